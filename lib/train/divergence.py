"""A non-finite loss ends a run at once instead of costing Ray Train's retries.

Ray Train retries any worker error up to --max-failures, and a retry restarts from the
last checkpoint with the same data and rate: it diverges again, minutes later. So the
workers do not raise it: every worker sees the same cross-worker sum and stops at the
same step, rank 0 leaves the reason in `<run>/diverged.json`, and they return normally.
The driver turns that file into the run's failure (lib/train/fitting.fit).
"""

from __future__ import annotations

import functools

from lib.data.layout import read_run_json, write_run_json

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
                write_run_json(identity.storage, identity.run, FILE, {"reason": str(e)})

    return run


def take_reason(storage: str, run: str) -> str | None:
    """The reason a run's workers stopped on, if they did; the file is removed, so a
    --resume with a lower rate starts clean."""
    found = read_run_json(storage, run, FILE, take=True)
    return None if found is None else found["reason"]
