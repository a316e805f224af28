"""Feeding Ray Train workers: the Datasets a trainer splits, and the batches a worker sees.

MultiWorkerMirroredStrategy runs one collective per step, so a worker with one batch
more than the others waits forever: the split is `equal=True` (same row count per
worker) and every epoch drops the last partial batch, so all workers step equally.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lib.data.columns import column_to_images

# Keras VGG16 (and HED) "caffe" convention: BGR channel order, ImageNet means removed,
# no scaling; what keras.applications.vgg16.preprocess_input does, without TF.
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def caffe_preprocess(images: np.ndarray) -> np.ndarray:
    return images[..., ::-1].astype(np.float32) - CAFFE_BGR_MEAN


def to_model_batch(batch: pa.Table, shape, with_labels: bool) -> dict[str, np.ndarray]:
    """Raw rows -> what a training step eats: x (float32 images), int32 labels, ids."""
    out = {
        "example_id": np.asarray(batch.column("example_id").to_pylist(), dtype=object),
        "x": caffe_preprocess(column_to_images(batch.column("image"), shape)),
    }
    if with_labels:
        out["label"] = batch.column("label").to_numpy().astype(np.int32)
    return out


def model_ready(ds, shape, *, with_labels: bool = True):
    """Preprocess in the Dataset, vectorised per batch, so workers get ready tensors (jobs
    materialize the result: preprocessed once per run, not per epoch). Unlabelled target
    data drops its labels here, so no training code can read them."""
    return ds.map_batches(to_model_batch, batch_format="pyarrow",
                          fn_kwargs={"shape": tuple(shape), "with_labels": with_labels})


def train_data_config(split: tuple[str, ...] = ("source", "target")):
    """Ray Train's DataConfig: the named training datasets split evenly, others given whole."""
    from ray.train import DataConfig

    return DataConfig(datasets_to_split=list(split))


def epoch_batches(shard, batch_size: int, *, shuffle_seed: int | None = None,
                  shuffle_buffer: int = 2048):
    """One epoch of a worker's shard: full batches only (see module docstring)."""
    return shard.iter_batches(
        batch_size=batch_size, drop_last=True, batch_format="numpy",
        local_shuffle_buffer_size=shuffle_buffer if shuffle_seed is not None else None,
        local_shuffle_seed=shuffle_seed,
    )


class InMemoryShard:
    """A worker's rows in memory, replayed each epoch: for small rows (cached features:
    2-8 KB each) Ray Data's per-epoch start-up would cost more than the epoch itself.
    Holds `x`, and `label` only for labelled data."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    @classmethod
    def pulled(cls, shard) -> InMemoryShard:
        """A Ray Data shard (or Dataset) pulled out once."""
        parts = list(shard.iter_batches(batch_size=4096, batch_format="numpy"))
        keys = [k for k in ("x", "label") if parts and k in parts[0]]
        return cls({k: np.concatenate([p[k] for p in parts]) for k in keys})

    def __len__(self) -> int:
        return len(self.columns["x"]) if self.columns else 0

    def batches(self, batch_size: int):
        """Every row once, in order, the last batch partial: for evaluation."""
        for start in range(0, len(self), batch_size):
            yield {k: v[start:start + batch_size] for k, v in self.columns.items()}

    def _batch_rows(self, batch_size: int, shuffle_seed: int) -> np.ndarray:
        """An epoch's row indices, shuffled, as (full batches, batch_size)."""
        order = np.random.default_rng(shuffle_seed).permutation(len(self))
        return order[:len(order) // batch_size * batch_size].reshape(-1, batch_size)

    def epoch(self, batch_size: int, shuffle_seed: int):
        for rows in self._batch_rows(batch_size, shuffle_seed):
            yield {k: v[rows] for k, v in self.columns.items()}

    def epoch_stacks(self, batch_size: int, shuffle_seed: int, steps: int):
        """The same batches as epoch(), `steps` at a time, stacked as (steps, batch, ...);
        the last stack may hold fewer."""
        batch_rows = self._batch_rows(batch_size, shuffle_seed)
        for start in range(0, len(batch_rows), steps):
            rows = batch_rows[start:start + steps]
            yield {k: v[rows] for k, v in self.columns.items()}
