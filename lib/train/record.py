"""A run's record around its training: running, then completed, stopped (SIGTERM or
Ctrl-C) or failed with the reason; and SIGTERM turned into a stop the record can say."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from lib.errors import RaydaptError


class RunStopped(RaydaptError):
    """SIGTERM (what `ray job stop` sends): the run is recorded as stopped, resumable."""

    exit_code = 143  # 128 + SIGTERM, as a shell reports a process ended by it


@contextlib.contextmanager
def stop_on_sigterm(seen: list):
    """SIGTERM interrupts the driver like Ctrl-C instead of Ray's sys.exit, so the record
    can say "stopped". Raised as KeyboardInterrupt because Ray's blocking calls (fit waits
    in ray.get) let only that, or SystemExit, out of a signal handler. Ray sends SIGKILL
    3 s later (RAY_JOB_STOP_WAIT_TIME_S): one small file write fits, the stop's record,
    made with further signals ignored (lib/metrics/runs.uninterrupted)."""
    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        seen.append("SIGTERM")
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        # Only a process's main thread can take signals: a run driven from another thread
        # is stopped by whoever drives it.
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def recorded(record, store):
    """The run record around training: running (with the cluster's resources), then
    completed, stopped (SIGTERM or Ctrl-C), or failed with the reason on any other error.
    Metrics files are written by rename, so a stop mid-write leaves only an ignored
    temp file."""
    import ray

    from lib.metrics.runs import uninterrupted

    record.resources = ray.cluster_resources()
    record.write("running")
    seen = []
    try:
        with stop_on_sigterm(seen):
            yield
    except KeyboardInterrupt as e:
        message = (f"stopped by {seen[0] if seen else 'an interrupt'}; continue with "
                   f"--resume {record.identity['run']}")
        _final_record(record, store, "stopped", message)
        raise RunStopped(message) from e
    except BaseException as e:
        _final_record(record, store, "failed", str(e)[:2000])
        raise
    with uninterrupted():
        record.write("completed", len(store.files("epochs")))


def _final_record(record, store, status: str, message: str) -> None:
    """Record how a run ended, unless the storage itself is what failed (full, gone): the
    error being raised says more than a second one about the record would. A stop already
    recorded is final: whoever stopped the run (its driver's caller, e.g. a sweep) tears
    it down after, and that teardown's error is not the run's failure."""
    from lib.metrics.runs import uninterrupted

    try:
        with uninterrupted():
            rows = store.read("runs").to_pylist()
            if status == "failed" and rows and rows[0]["status"] == "stopped":
                return
            record.write(status, len(store.files("epochs")), message=message)
    except OSError as e:
        print(f"warning: could not record the run as {status} ({e})", file=sys.stderr)
