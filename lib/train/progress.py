"""Rank 0's place within the epoch, for the driver's progress bar (lib/console.py).

Only when the driver's console is a terminal (a bar in a log file or in `ray job logs` is
noise), at most once a second, as `<run>/logs/progress.json`, written by rename so the
driver never reads half of it.
"""

from __future__ import annotations

import time

from lib.data.layout import filesystem_for, read_run_json, write_json

FILE = "progress.json"


class StepProgress:
    def __init__(self, storage: str, run: str, enabled: bool, every_s: float = 1.0,
                 clock=time.monotonic):
        self.enabled, self.every_s, self.clock = enabled, every_s, clock
        self.fs, root = filesystem_for(storage)
        self.path = f"{root}/{run}/logs/{FILE}"
        self.last = float("-inf")

    def update(self, epoch: int, step: int, steps: int) -> None:
        """`step` of `steps` done in `epoch`; the last step of an epoch is always written."""
        if not self.enabled:  # every step calls this: nothing more when no bar is shown
            return
        now = self.clock()
        if now - self.last < self.every_s and step < steps:
            return
        if self.last == float("-inf"):
            self.fs.create_dir(self.path.rsplit("/", 1)[0], recursive=True)
        self.last = now
        write_json(self.fs, self.path, {"epoch": epoch, "step": step, "steps": steps})


def read_progress(storage: str, run: str) -> dict | None:
    return read_run_json(storage, run, f"logs/{FILE}")
