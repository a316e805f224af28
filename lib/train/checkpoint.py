"""Checkpoints as plain arrays: model weights, optimizer state and the epoch done.

Arrays in an .npz are read back by any worker count or strategy, unlike a strategy-bound
TF checkpoint; only rank 0 writes one. The weights' names (Keras paths: layer/variable)
are kept too, so another model can take the weights it shares (--init-from).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

import numpy as np
import pyarrow.fs as pafs

from lib.data.layout import filesystem_for, read_json
from lib.errors import UsageError

STATE = "state.npz"
META = "meta.json"


@contextlib.contextmanager
def saved(model, optimizers, epoch: int, extra: dict | None = None):
    """A ray.train.Checkpoint of the state after `epoch` (0-based) finished, valid inside
    the block: report it there (Ray Train copies it to storage), the local copy goes.
    `optimizers`: a list; their variables are kept in that order."""
    from ray.train import Checkpoint

    with tempfile.TemporaryDirectory(prefix="raydapt-ckpt-") as path:
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays |= {f"o{i}": np.asarray(v.numpy())
                   for i, v in enumerate(_variables_of(optimizers))}
        np.savez(os.path.join(path, STATE), **arrays)
        with open(os.path.join(path, META), "w") as f:
            json.dump({"epoch": epoch, "weight_names": [w.path for w in model.weights],
                       **(extra or {})}, f)
        yield Checkpoint.from_directory(path)


def _variables_of(optimizers) -> list:
    return [v for optimizer in optimizers for v in optimizer.variables]


def describing(plan) -> dict:
    """What a checkpoint says of the model beyond its weights, so an export needs nothing
    else: the images it takes and the class names its outputs stand for
    (lib/train/session.Plan's)."""
    return {"image_shape": list(plan.image_shape), "class_names": list(plan.class_names)}


def restore(checkpoint, model, optimizers=()) -> dict:
    """Load weights (and the optimizers' state, given) from a checkpoint; its meta."""
    with checkpoint.as_directory() as path:
        with open(os.path.join(path, META)) as f:
            meta = json.load(f)
        with np.load(os.path.join(path, STATE)) as state:
            model.set_weights([state[f"w{i}"] for i in range(len(model.weights))])
            for i, var in enumerate(_variables_of(optimizers)):
                var.assign(state[f"o{i}"])
    return meta


def weight_names(checkpoint) -> list[str]:
    """The Keras paths of the checkpoint's weights, in their order (meta only: cheap
    enough for a driver's preflight)."""
    with checkpoint.as_directory() as path:
        with open(os.path.join(path, META)) as f:
            meta = json.load(f)
    if "weight_names" not in meta:
        raise UsageError("--init-from: the checkpoint has no weight names (written before "
                         "raydapt kept them); re-run that stage to take weights from it")
    return meta["weight_names"]


def named_weights(checkpoint) -> dict:
    """{Keras path: array} of the checkpoint's model weights."""
    names = weight_names(checkpoint)
    with checkpoint.as_directory() as path:
        with np.load(os.path.join(path, STATE)) as state:
            return {name: state[f"w{i}"] for i, name in enumerate(names)}


def take_shared_weights(checkpoint, model) -> int:
    """Load into `model` every weight the checkpoint has under the same name (a head
    trained on cached features goes into a model whose blocks also train, say); the rest
    keep their values. Returns how many were taken; none, or a shape that differs, is an
    error naming the weight."""
    saved_weights = named_weights(checkpoint)
    taken = 0
    for weight in model.weights:
        value = saved_weights.get(weight.path)
        if value is None:
            continue
        if tuple(value.shape) != tuple(weight.shape):
            raise UsageError(f"--init-from: weight {weight.path} is {tuple(value.shape)} in the "
                             f"checkpoint, {tuple(weight.shape)} here (another --feature-layer?)")
        weight.assign(value)
        taken += 1
    if not taken:
        raise UsageError("--init-from: the checkpoint shares no weight with this model")
    return taken


def _checkpoint_dirs(run_dir: str) -> tuple:
    """(filesystem, the checkpoint directories Ray Train kept, oldest first)."""
    fs, root = filesystem_for(run_dir)
    dirs = [i for i in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
            if i.type == pafs.FileType.Directory and i.base_name.startswith("checkpoint_")]
    return fs, [i.path for i in sorted(dirs, key=lambda i: i.base_name)]  # names: timestamps


def latest_in_run(run_dir: str):
    """The newest checkpoint Ray Train kept under a run directory, or None."""
    from ray.train import Checkpoint

    fs, dirs = _checkpoint_dirs(run_dir)
    return Checkpoint(path=dirs[-1], filesystem=fs) if dirs else None


def kept_epochs(run_dir: str) -> dict[int, str]:
    """{epoch: checkpoint directory} of every checkpoint kept under a run directory (a
    resumed epoch's newer one wins). Reads only their meta files: no Ray."""
    fs, dirs = _checkpoint_dirs(run_dir)
    return {read_json(fs, f"{path}/{META}")["epoch"]: path for path in dirs}


def kept_in_run(run_dir: str) -> dict:
    """{epoch: ray.train.Checkpoint} of kept_epochs."""
    from ray.train import Checkpoint

    fs, _ = filesystem_for(run_dir)
    return {epoch: Checkpoint(path=path, filesystem=fs) for epoch, path in kept_epochs(run_dir).items()}
