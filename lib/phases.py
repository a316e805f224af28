"""Where a run's wall time goes, phase by phase: a small run can spend most of its minute
outside its training steps, and this is how that shows (the run record's `phases`,
`raydapt report --run`, `raydapt bench --only latency`).

The driver times its own phases; rank 0 times the workers' (set-up, steps, evaluation,
writes) and leaves them in `<run>/logs/worker-phases.json`, which the driver folds in:
what Ray Train's fit took beyond them is Ray Train's own (placement, data split, reports).
"""

from __future__ import annotations

import contextlib
import time

from lib.data.layout import read_run_json, write_run_json

WORKER_FILE = "worker-phases.json"
RAY_TRAIN = "Ray Train (worker start, data split, reports)"


class Phases:
    """Seconds per named phase, in the order they first ran; a phase entered again adds."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()  # the run's wall clock (lib/metrics/runs.py)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextlib.contextmanager
    def timed(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def fold_in_workers(self, fit_seconds: float, workers: dict[str, float]) -> None:
        """Ray Train's fit, split into rank 0's phases and the rest."""
        for name, seconds in workers.items():
            self.add(name, seconds)
        self.add(RAY_TRAIN, max(fit_seconds - sum(workers.values()), 0.0))


def write_worker_phases(storage: str, run: str, seconds: dict[str, float]) -> None:
    write_run_json(storage, run, f"logs/{WORKER_FILE}", seconds)


def take_worker_phases(storage: str, run: str) -> dict[str, float]:
    """Rank 0's phases of the attempt that finished (none if it did not get that far)."""
    return read_run_json(storage, run, f"logs/{WORKER_FILE}", take=True) or {}
