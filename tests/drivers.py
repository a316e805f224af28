"""Job drivers that tests start, disturb and wait for: their output goes to files, and one
that does not end in time fails the test showing every process it left."""

from __future__ import annotations

import contextlib
import subprocess
import time

import psutil

from tests.conftest import REPO


class Driver:
    """A job's driver process. Its output goes to files, not pipes: a pipe nobody reads
    while the test waits would fill up and stall the driver's logging."""

    def __init__(self, args, logs):
        self.stderr_path = logs.with_suffix(".stderr")
        with open(logs.with_suffix(".stdout"), "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=err, text=True)
        self.pid = self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def poll(self):
        return self.process.poll()

    def wait(self, timeout_s: float) -> str:
        """The driver's stderr once it exits; if it does not in time, a failure that shows
        every process it left and what each was doing, then kills them."""
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            tree = [psutil.Process(self.pid), *psutil.Process(self.pid).children(recursive=True)]
            states = []
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    states.append(f"{p.pid} {p.status()} {' '.join(p.cmdline())[:120]}")
            for p in reversed(tree):
                with contextlib.suppress(psutil.Error):
                    p.kill()
            raise AssertionError(f"driver still running after {timeout_s} s:\n"
                                 + "\n".join(states) + "\n" + self.stderr()[-6000:]) from None
        return self.stderr()

    @property
    def returncode(self):
        return self.process.returncode


def start(args, logs_dir):
    """A driver for `args`, its output in logs_dir under the run's name."""
    return Driver(args, logs_dir / args[args.index("--run-name") + 1])


def wait_for_file(path, driver, timeout_s=600):
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert driver.poll() is None, driver.stderr()[-3000:]
        assert time.monotonic() < deadline, f"{path.name} not written in {timeout_s} s"
        time.sleep(0.05)
    return time.time()


def train_workers(driver) -> list[psutil.Process]:
    return [p for p in psutil.Process(driver.pid).children(recursive=True)
            if "RayTrainWorker" in " ".join(p.cmdline())]
