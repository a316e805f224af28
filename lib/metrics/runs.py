"""The run record (`runs` table): config, versions, resources, status and wall time.
Written by the driver when a run starts and again when it ends."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from lib.metrics.store import MetricsStore


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("raydapt", "tensorflow", "keras", "ray", "pyarrow"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _git_commit() -> str | None:
    """The commit of the checkout raydapt runs from; none when installed from a wheel
    (asking git there could name some enclosing repository's commit instead)."""
    from lib.checkout import checkout

    root = checkout()
    if root is None or not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=root)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


@dataclass
class RunRecord:
    store: MetricsStore
    identity: dict          # run, job, method, config_hash, workers, replicas
    config: dict
    resources: dict = field(default_factory=dict)
    phases: dict = field(default_factory=dict)  # lib/phases.Phases.seconds, filled as it runs
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    _clock: float = field(default_factory=time.perf_counter)

    def write(self, status: str, epochs_done: int = 0, message: str = "") -> None:
        done = status != "running"
        self.store.write("runs", [self.identity | {
            "status": status, "message": message, "started": self.started,
            "finished": dt.datetime.now(dt.UTC) if done else None,
            "wall_seconds": time.perf_counter() - self._clock if done else None,
            "epochs_done": epochs_done, "config_json": json.dumps(self.config, sort_keys=True),
            "versions_json": json.dumps(_versions(), sort_keys=True),
            "git_commit": _git_commit(), "resources_json": json.dumps(self.resources),
            "phases": dict(self.phases) if done else None,
        }])


@contextlib.contextmanager
def uninterrupted():
    """Ctrl-C and SIGTERM ignored while a run's final record is written: a second one (a
    person pressing Ctrl-C twice) would otherwise cut the write short and leave the run
    recorded running. Only the main thread may change how the process takes a signal
    (Python runs the handlers there): elsewhere this does nothing."""
    main = threading.current_thread() is threading.main_thread()
    previous = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM) if main else ():
            handler = signal.getsignal(s)
            if handler is not None:  # None: set outside Python, so it could not be put back
                previous[s] = handler
                signal.signal(s, signal.SIG_IGN)
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def record_stopped(store: MetricsStore, message: str) -> bool:
    """Record a run as stopped for a driver that cannot: a sweep's trial, whose thread ends
    with its sweep's Ray. Only a run still recorded running changes (one that ended in the
    meantime keeps its own record); returns whether it did. A storage that fails here
    (full, gone) only warns: the stop goes on for the other runs."""
    try:
        with uninterrupted():
            rows = store.read("runs").to_pylist()
            if not rows or rows[0]["status"] != "running":
                return False
            now = dt.datetime.now(dt.UTC)
            started = rows[0]["started"]  # the schema's timestamps are UTC-aware
            store.write("runs", [rows[0] | {
                "status": "stopped", "message": message, "finished": now,
                "wall_seconds": (now - started).total_seconds(),
                "epochs_done": len(store.files("epochs"))}])
    except OSError as e:
        print(f"warning: could not record {store.location} as stopped ({e})", file=sys.stderr)
        return False
    return True
