"""Rank 0's place within the epoch, for the driver's progress bar (lib/console.py).

Only when the driver's console is a terminal (a bar in a log file or in `ray job logs` is
noise), at most once a second, as `<run>/logs/progress.json`, written by rename so the
driver never reads half of it.
"""

from __future__ import annotations

import json
import time

from lib.data.layout import filesystem_for

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
        now = self.clock()
        if not self.enabled or (now - self.last < self.every_s and step < steps):
            return
        if self.last == float("-inf"):
            self.fs.create_dir(self.path.rsplit("/", 1)[0], recursive=True)
        self.last = now
        tmp = f"{self.path}.tmp"
        with self.fs.open_output_stream(tmp) as f:
            f.write(json.dumps({"epoch": epoch, "step": step, "steps": steps}).encode())
        self.fs.move(tmp, self.path)


def read_progress(storage: str, run: str) -> dict | None:
    import pyarrow.fs as pafs

    fs, root = filesystem_for(storage)
    path = f"{root}/{run}/logs/{FILE}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return json.loads(f.read())
