"""What a person sees while a job runs: a header, a line per epoch, the summary.

Ray and TensorFlow print a great deal (worker start-up, Ray Data's progress, every
checkpoint and report, oneDNN and CUDA notices), to the driver's stdout and stderr,
from threads and child processes we do not control. So during a run the driver's file
descriptors 1 and 2 point at `<storage>/<run>/logs/driver.log`, which keeps all of it,
and our own lines go to the terminal through copies of the original descriptors. The
epoch lines come from the metrics files rank 0 writes (polled by a thread), so they are
the same on a laptop, on a cluster and in `ray job logs`, and no worker output
interleaves with them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import time

LOG_NAME = "driver.log"


class Console:
    """Lines for the person running the job: on the terminal, whatever the job's own
    descriptors point at."""

    def __init__(self, out=None, err=None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.showing_bar = False

    @property
    def live(self) -> bool:
        """A terminal, where a line can be redrawn (not a file, a pipe, `ray job logs`)."""
        return self.out.isatty()

    def line(self, text: str) -> None:
        self._clear_bar()
        print(text, file=self.out, flush=True)

    def warning(self, text: str) -> None:
        self._clear_bar()
        print(f"warning: {text}", file=self.err, flush=True)

    def bar(self, text: str) -> None:
        """A line redrawn in place, until the next line replaces it."""
        print(f"\r\x1b[K{text}", end="", file=self.out, flush=True)
        self.showing_bar = True

    def _clear_bar(self) -> None:
        if self.showing_bar:
            print("\r\x1b[K", end="", file=self.out, flush=True)
            self.showing_bar = False


_active: Console | None = None


def say(text: str) -> None:
    """A line for the person running the job from anywhere in the driver (say, the
    feature cache announcing a long extraction): on the terminal during a captured run,
    on stdout otherwise."""
    (_active or Console()).line(text)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@contextlib.contextmanager
def captured(log_dir: str, verbose: bool = False):
    """Send everything written to fds 1 and 2 inside the block to `<log_dir>/driver.log`
    and yield (a Console on the original terminal, the log's path). With `verbose`,
    nothing is redirected (the log file then says so). A log_dir that is a URI gets the
    log at the end, copied from a local file. Nested (bench runs jobs), the inner job's
    lines go to the outer log: the outer job says what it measures."""
    from lib.data.layout import filesystem_for

    fs, root = filesystem_for(log_dir)
    shown = f"{log_dir}/{LOG_NAME}"
    local = "://" not in log_dir
    if local:
        os.makedirs(root, exist_ok=True)
        path = f"{root}/{LOG_NAME}"
    else:
        handle, path = tempfile.mkstemp(prefix="raydapt-", suffix=".log")
        os.close(handle)
    global _active
    if verbose:
        with open(path, "a") as f:
            f.write("--verbose: Ray's and TensorFlow's output went to the console\n")
        yield Console(), shown
        return
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = (os.fdopen(os.dup(fd), "w", buffering=1) for fd in (1, 2))
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for fd in (1, 2):
        os.dup2(log, fd)
    os.close(log)
    outer, _active = _active, Console(out, err)
    try:
        yield _active, shown
    finally:
        _active = outer
        for stream, fd, terminal in ((sys.stdout, 1, out), (sys.stderr, 2, err)):
            stream.flush()
            os.dup2(terminal.fileno(), fd)
            terminal.close()
        if not local:
            fs.create_dir(root, recursive=True)
            with open(path, "rb") as src, fs.open_output_stream(f"{root}/{LOG_NAME}") as dst:
                dst.write(src.read())
            os.unlink(path)


def undoing(log_dir: str):
    """A function that puts things back as they are now as far as captured(log_dir) goes:
    the directories it creates removed (the topmost missing one of log_dir's), or the log
    file as it was (an earlier attempt's, which it appends to). For jobs that must leave
    nothing behind on bad input."""
    import pyarrow.fs as pafs

    from lib.data.layout import filesystem_for

    fs, root = filesystem_for(log_dir)

    def exists(path: str) -> bool:
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    missing, path = None, root
    while path and not exists(path):
        missing, path = path, path.rpartition("/")[0]
    log = f"{root}/{LOG_NAME}"
    before = None
    if missing is None and exists(log):
        with fs.open_input_stream(log) as f:
            before = f.read()

    def undo() -> None:
        if missing is not None:
            fs.delete_dir(missing)
        elif before is not None:
            with fs.open_output_stream(log) as f:
                f.write(before)
        elif exists(log):
            fs.delete_file(log)

    return undo


class EpochFollower:
    """A thread that prints a line for each epoch as rank 0's metrics for it appear (the
    `epochs` file, and its `evals` file when the run evaluates), and a warning for each
    worker-group failure Ray Train retries (read from the driver's log). `describe(row,
    evals)` turns an epoch's rows into the middle of its line."""

    def __init__(self, console: Console, store, epochs: int, describe, evaluates: bool,
                 log_path: str | None = None, poll_s: float = 1.0, steps=None):
        self.console, self.store, self.epochs = console, store, epochs
        self.describe, self.evaluates, self.poll_s = describe, evaluates, poll_s
        self.steps = steps  # () -> rank 0's {"epoch", "step", "steps"} or None: the bar
        self.log_path, self.log_offset = log_path, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self):
        self.seen = set(self.store.files("epochs"))  # a resumed run's earlier epochs
        self.first = len(self.seen)
        self.started = time.monotonic()
        if self.log_path and os.path.exists(self.log_path):
            self.log_offset = os.path.getsize(self.log_path)
        self._thread.start()
        return self

    def __exit__(self, error_type, *_):
        self._stop.set()
        self._thread.join()
        if error_type is None:  # a failed run's error says more than its last epoch line
            self.poll()  # what the last interval left, so no epoch goes unprinted
        self.console._clear_bar()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_s):
            with contextlib.suppress(OSError):  # a storage hiccup: the next poll reads it again
                self.poll()

    def poll(self) -> None:
        import pyarrow.parquet as pq

        evals = set(self.store.files("evals")) if self.evaluates else set()
        for path in self.store.files("epochs"):
            evals_path = path.replace("/epochs-", "/evals-")
            if path in self.seen or (self.evaluates and evals_path not in evals):
                continue
            self.seen.add(path)
            row = pq.read_table(path, filesystem=self.store.fs).to_pylist()[0]
            rows = pq.read_table(evals_path, filesystem=self.store.fs).to_pylist() \
                if self.evaluates else []
            now = time.monotonic()
            done, new = len(self.seen), len(self.seen) - self.first
            left = max(self.epochs - done, 0)
            # From the second line on, the pace between lines: the first epoch also paid
            # for the workers' start-up and the compiled step's tracing.
            if new == 1:
                self.first_line = now
            pace = (now - self.first_line) / (new - 1) if new > 1 else now - self.started
            eta = f", eta {duration(pace * left)}" if left else ""
            self.console.line(f"epoch {row['epoch'] + 1}/{self.epochs}  {self.describe(row, rows)}"
                              f"  {row['images_per_s']:,.0f} img/s  "
                              f"[{duration(now - self.started)}{eta}]")
        self._warn_from_log()
        self._draw_bar()

    def _draw_bar(self, width: int = 30) -> None:
        """Steps within the epoch being trained, when the console is a terminal."""
        if self.steps is None or not self.console.live:
            return
        try:
            at = self.steps()
        except OSError:  # a storage hiccup: the next poll reads it again
            return
        if not at or at["epoch"] + 1 <= len(self.seen) or not at["steps"]:
            return  # none yet, or an epoch whose line is out
        filled = min(width, width * at["step"] // at["steps"])
        self.console.bar(f"epoch {at['epoch'] + 1}/{self.epochs}  [{'#' * filled}"
                         f"{'.' * (width - filled)}] {at['step']}/{at['steps']} steps"
                         + (", evaluating" if at["step"] >= at["steps"] else "") + "  "
                         f"[{duration(time.monotonic() - self.started)}]")

    def _warn_from_log(self) -> None:
        """Ray Train's retry of a failed worker group, as one line: its controller logs a
        [FailurePolicy] block (lib/train/fitting.py sets the limit)."""
        if not self.log_path or not os.path.exists(self.log_path):
            return
        with open(self.log_path, errors="replace") as f:
            f.seek(self.log_offset)
            text = f.read()
        # Only whole lines: a block cut at the end is read again next time.
        complete = text[:text.rfind("\n") + 1]
        self.log_offset += len(complete.encode(errors="replace"))
        for match in _RETRY.finditer(complete):
            self.console.warning(f"a training worker failed ({match['error'].strip()[:200]}); "
                                 f"Ray Train restarts the workers from the last checkpoint "
                                 f"(failure {match['count']} of at most {match['limit']})")


_RETRY = re.compile(r"\[FailurePolicy\] RETRY.*?Error count: (?P<count>\d+) \(max allowed: "
                    r"(?P<limit>\d+)\).*?Error: (?P<error>[^\n]*)", re.S)


def epoch_summary(row: dict, evals: list[dict]) -> str:
    """loss, accuracy, the method's terms and each evaluated split's accuracy."""
    parts = [f"loss {row['loss']:.3f}", f"acc {row['accuracy']:.1%}"]
    for name, value in sorted(dict(row.get("terms") or []).items()):
        parts.append(f"{name} {value:.1%}" if name.endswith("accuracy") else f"{name} {value:.3g}")
    parts += [f"{e['split']} {e['accuracy']:.1%}" for e in sorted(evals, key=lambda e: e["split"])]
    return "  ".join(parts)
