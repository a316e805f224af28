"""`raydapt export`: a run's kept epoch as a model file (lib/inference/files.py)."""

from __future__ import annotations

import os
import shutil

from lib.config import ExportConfig
from lib.console import captured
from lib.errors import OutputError
from lib.inference.epochs import run_epoch
from lib.inference.files import kind_of, write_keras, write_saved_model
from lib.inference.model import build


def export(config: ExportConfig) -> dict:
    """Write the model; return its metadata."""
    out = config.out
    if config.format == "keras" and not out.endswith(".keras"):
        raise OutputError(f"--out {out}: a Keras model file must end in .keras")
    if os.path.lexists(out):
        if not config.overwrite:
            raise OutputError(f"--out {out} exists; pass --overwrite to replace it")
        if kind_of(out) != config.format:  # --overwrite replaces a model, nothing else
            raise OutputError(f"--out {out} exists and is not a {config.format} model: not "
                              f"replaced")
    run = run_epoch(config.run, config.epoch)  # an epoch not kept fails here, nothing written
    metadata = run.metadata()
    # Written beside its final name, then renamed: a failed export leaves nothing behind.
    tmp = os.path.join(os.path.dirname(os.path.abspath(out)),
                       f".{os.path.basename(out)}.{os.getpid()}.tmp" +
                       (".keras" if config.format == "keras" else ""))
    with captured(f"{run.location}/logs", config.verbose):  # TensorFlow's own lines
        try:
            (write_keras if config.format == "keras" else write_saved_model)(build(run), metadata, tmp)
            if os.path.lexists(out):
                shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
            os.replace(tmp, out)
        finally:
            if os.path.lexists(tmp):
                shutil.rmtree(tmp) if os.path.isdir(tmp) else os.remove(tmp)
    print(f"exported {run.name} epoch {run.epoch} ({run.rule}) as {config.format}: {out}; "
          f"{len(metadata['class_names'])} classes, input {'x'.join(map(str, metadata['image_shape']))}"
          f" RGB 0-255")
    return metadata
