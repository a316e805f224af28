"""A non-finite loss ends a run at once instead of costing Ray Train's retries.

Ray Train retries any worker error up to --max-failures, and a retry restarts from the
last checkpoint with the same data and rate: it diverges again, minutes later. So the
workers do not raise it: every worker sees the same cross-worker sum and stops at the
same step, rank 0 leaves the reason in `<run>/diverged.json`, and they return normally.
The driver turns that file into the run's failure (lib/train/launch.fit).
"""

from __future__ import annotations

import functools
import json

import pyarrow.fs as pafs

from lib.data.layout import filesystem_for

FILE = "diverged.json"


class Diverged(FloatingPointError):
    """Raised by a worker loop, after the epoch's cross-worker sum, on a non-finite loss."""


def stops_on_divergence(worker):
    """Wrap a Ray Train worker function: Diverged ends it normally, its reason kept."""
    @functools.wraps(worker)
    def run(config: dict) -> None:
        import ray.train

        try:
            worker(config)
        except Diverged as e:
            if ray.train.get_context().get_world_rank() == 0:
                identity = config["plan"].identity
                fs, root = filesystem_for(identity.storage)
                with fs.open_output_stream(f"{root}/{identity.run}/{FILE}") as f:
                    f.write(json.dumps({"reason": str(e)}).encode())

    return run


def take_reason(storage: str, run: str) -> str | None:
    """The reason a run's workers stopped on, if they did; the file is removed, so a
    --resume with a lower rate starts clean."""
    fs, root = filesystem_for(storage)
    path = f"{root}/{run}/{FILE}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        reason = json.loads(f.read())["reason"]
    fs.delete_file(path)
    return reason
