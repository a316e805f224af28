"""Which epoch of a run is its model, and where that epoch's kept checkpoint is: the
run's own tables say which epoch its selection rule picked (lib/adapt/selection.py),
lib/train/checkpoint.kept_epochs which checkpoints Ray Train kept."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lib.config import parse_epoch
from lib.errors import DataError, NoInputError


@dataclass(frozen=True)
class RunEpoch:
    """One kept epoch of one run, and what the run says of itself."""

    location: str           # the run's directory
    config: object          # its config.json, typed (lib/train/rundir.read_config)
    job: str                # finetune or adapt
    epoch: int
    rule: str               # how the epoch was named: "selected (source_val)", "last", "asked"
    checkpoint: object      # ray.train.Checkpoint
    meta: dict              # the checkpoint's meta.json: image_shape, class_names...

    @property
    def name(self) -> str:
        return self.location.rstrip("/").rpartition("/")[2]

    def metadata(self) -> dict:
        """What travels with an export: enough to use it and to trace it to its run."""
        return {"format": "raydapt-model/1", "identity": run_identity(self.config, self.job),
                "run_location": self.location, "epoch": self.epoch, "epoch_rule": self.rule,
                "class_names": list(self.meta["class_names"]),
                "image_shape": list(self.meta["image_shape"]),
                "image_size": self.config.data.image_size,
                "input": "RGB pixel values 0-255 (uint8 or float), the image shape above",
                "output": "class probabilities, in class_names order",
                "domain": "target" if self.job == "adapt" else None,
                "precision": self.config.optim.precision}


def run_identity(config, job: str) -> dict:
    """A run's identity row (lib/train/rundir.RunIdentity.row()) from its saved config, as
    its own tables have it."""
    from lib.adapt.methods import method_class
    from lib.train.rundir import identify

    if job == "adapt":
        method = method_class(config.adapt.method)
        return identify(config, "adapt", method.name, method.reads_target_labels).row()
    return identify(config, "finetune", "finetune", False).row()


def open_run(location: str) -> tuple[str, object, str]:
    """(location, config, job) of a run directory, or one line saying why it is not one.
    The location comes back absolute (or the URI): it is recorded in exports."""
    import pyarrow.fs as pafs

    from lib.config import AdaptConfig
    from lib.data.layout import filesystem_for
    from lib.train.rundir import read_config

    location = location.rstrip("/")
    location = location if "://" in location else os.path.abspath(location)
    fs, root = filesystem_for(location)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        raise NoInputError(f"no run at {location}")
    config = read_config(location)
    if config is None:
        raise NoInputError(f"{location} is not a run directory (no config.json)")
    return location, config, "adapt" if isinstance(config, AdaptConfig) else "finetune"


def run_of(metadata: dict) -> str | None:
    """The directory of the run an export came from, if it is reachable here and is that
    run (same name and experiment), else None."""
    try:
        location, config, job = open_run(metadata["run_location"])
    except (NoInputError, DataError):
        return None
    same, wanted = run_identity(config, job), metadata["identity"]
    return location if all(same[k] == wanted[k] for k in ("run", "config_hash")) else None


def model_epoch(job: str, select_by: str | None, selection: list[dict], evals: list[dict],
                epochs: list[dict]) -> tuple[int, str] | None:
    """(epoch, rule) of a run's model, from its tables: adapt, the epoch its --select-by
    criterion picked (the selection table); finetune, its best --val accuracy (the later
    epoch of a tie, as Ray Train keeps it), or its last without --val. None before the
    run has it."""
    if job == "adapt":
        rule = select_by or "source_val"
        picks = {r["criterion"]: r["epoch"] for r in selection}
        return (picks[rule], f"selected ({rule})") if rule in picks else None
    val = [r for r in evals if r["split"] == "val"]
    if val:
        best = max(val, key=lambda r: (r["accuracy"], r["epoch"]))
        return best["epoch"], "selected (val accuracy)"
    return (max(r["epoch"] for r in epochs), "last") if epochs else None


def run_epoch(location: str, wanted: str = "selected") -> RunEpoch:
    """The kept checkpoint of the epoch `wanted` names (selected: model_epoch of the run's
    tables, last or N)."""
    from lib.data.layout import read_json
    from lib.metrics.store import MetricsStore
    from lib.train.checkpoint import META, kept_in_run

    location, config, job = open_run(location)
    wanted = parse_epoch(wanted)
    storage, _, run = location.rpartition("/")
    store = MetricsStore(storage or ".", run)
    if wanted == "selected":
        select_by = config.adapt.select_by if job == "adapt" else None
        picked = model_epoch(job, select_by, *(store.read(t).to_pylist()
                                               for t in ("selection", "evals", "epochs")))
        if picked is None:
            raise NoInputError(f"run {run} has no selected epoch (not completed?): name one "
                               f"with --epoch")
        epoch, rule = picked
    elif wanted == "last":
        epochs = store.read("epochs").column("epoch").to_pylist()
        if not epochs:
            raise NoInputError(f"run {run} has no finished epoch")
        epoch, rule = max(epochs), "last"
    else:
        epoch, rule = wanted, "asked"
    kept = kept_in_run(location)
    if epoch not in kept:
        listed = ", ".join(str(e) for e in sorted(kept)) or "none"
        raise NoInputError(f"epoch {epoch} of run {run} ({rule}) was not kept: its kept "
                           f"epochs are {listed}")
    checkpoint = kept[epoch]
    meta = read_json(checkpoint.filesystem, f"{checkpoint.path}/{META}")
    if "class_names" not in meta:
        raise DataError(f"run {run}'s checkpoint of epoch {epoch} was written before raydapt "
                        f"kept its classes and image shape: re-run it to export")
    return RunEpoch(location, config, job, epoch, rule, checkpoint, meta)
