"""A model over a dataset: Ray Data reads and decodes the images, a pool of actors each
loads the model once and turns batches of pixels into probabilities; the driver sees
only ids, labels and probabilities, however large the data."""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pyarrow as pa

from lib.data.columns import column_to_images

BATCH = 256


class Scorer:
    """One Ray Data actor: the model (open_model's, sent unloaded), loaded once."""

    def __init__(self, model, shape):
        self.model, self.shape = model, tuple(shape)

    def __call__(self, batch: pa.Table) -> pa.Table:
        probabilities = self.model.probabilities(column_to_images(batch.column("image"),
                                                                  self.shape))
        width = probabilities.shape[1]
        flat = pa.array(probabilities.astype(np.float32).reshape(-1))
        return pa.table({"example_id": batch.column("example_id"),
                         "label": batch.column("label"),
                         "probabilities": pa.FixedSizeListArray.from_arrays(flat, width)})


def score(model, plan, actors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(example ids, labels, probabilities) of every image `plan` (an ImagePlan) names,
    by example id."""
    import ray

    ds, shape = plan.load()
    scored = ds.map_batches(Scorer, fn_constructor_args=(model, shape),
                            batch_size=BATCH, batch_format="pyarrow",
                            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1)
    # Blocks finish in any order: one fixed order. (A plan has rows: lib/inference/plans.py.)
    table = pa.concat_tables(ray.get(scored.to_arrow_refs())).sort_by("example_id")
    probabilities = table.column("probabilities").combine_chunks()
    return (np.asarray(table.column("example_id").to_pylist(), dtype=object),
            table.column("label").to_numpy().astype(np.int64),
            probabilities.flatten().to_numpy().reshape(-1, probabilities.type.list_size))


def scored(model, plan, inference, header: str, log_dir: str | None = None):
    """score() with the console of a job: a header, Ray's and TensorFlow's output in
    `<log_dir>/driver.log` (a temporary directory when None, removed once done), Ray
    connected or started and stopped again."""
    from lib.console import captured, undoing
    from lib.errors import DataError, NoInputError
    from lib.inference.plans import check_shape
    from lib.runtime import ray_up

    temporary = log_dir is None
    log_dir = log_dir or tempfile.mkdtemp(prefix="raydapt-")
    undo = undoing(log_dir)
    try:
        with captured(log_dir, inference.verbose) as (console, log):
            console.line(f"{header}; Ray's output in {log}")
            with ray_up(inference.address):
                check_shape(plan, model.metadata)
                result = score(model, plan, inference.actors)
    except (DataError, NoInputError):
        undo()  # bad input leaves no log behind, in a run's logs or a temporary one
        if temporary:
            shutil.rmtree(log_dir, ignore_errors=True)
        raise
    if temporary:  # kept when scoring failed: the header named it
        shutil.rmtree(log_dir, ignore_errors=True)
    return result
