"""The console: a line per epoch from rank 0's files, Ray Train's retries as one warning,
and everything else in the run's log file."""

import io
import subprocess
import sys

from lib.console import Console, EpochFollower, epoch_summary
from lib.metrics.store import MetricsStore
from lib.train.progress import StepProgress, read_progress
from tests.conftest import REPO

IDENTITY = {"run": "r", "job": "adapt", "method": "dann", "reads_target_labels": False,
            "config_hash": "h", "workers": 1, "replicas": 1}


def epoch_row(epoch, terms=None):
    return IDENTITY | {"epoch": epoch, "loss": 1.25 - 0.25 * epoch, "accuracy": 0.5,
                       "images_per_s": 1234.0, "epoch_seconds": 1.0, "learning_rate": 1e-3,
                       "terms": terms}


def eval_row(epoch, split, accuracy):
    return IDENTITY | {"epoch": epoch, "split": split, "dataset": "d", "num_examples": 10,
                       "loss": 1.0, "accuracy": accuracy, "class_names": ["a", "b"],
                       "per_class_accuracy": [0.5, 0.5], "confusion": [[1, 1], [1, 1]]}


def test_epoch_summary_shows_the_methods_terms_and_every_split():
    text = epoch_summary(epoch_row(1, {"domain_loss": 0.6931, "domain_accuracy": 0.625}),
                         [eval_row(1, "target_test", 0.4), eval_row(1, "source_val", 0.55)])
    assert text == ("loss 1.000  acc 50.0%  domain_accuracy 62.5%  domain_loss 0.693  "
                    "source_val 55.0%  target_test 40.0%")


def test_a_line_per_epoch_once_its_evaluation_is_written(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    out = io.StringIO()
    follower = EpochFollower(Console(out, out), store, 3, epoch_summary, evaluates=True,
                             poll_s=3600)
    with follower:
        store.write("epochs", [epoch_row(0)], epoch=0)
        follower.poll()
        assert out.getvalue() == ""  # its evaluation is not there yet
        store.write("evals", [eval_row(0, "val", 0.3)], epoch=0)
        follower.poll()
        follower.poll()  # nothing new: no second line
        store.write("epochs", [epoch_row(1)], epoch=1)
        store.write("evals", [eval_row(1, "val", 0.4)], epoch=1)
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3"]
    assert "val 40.0%" in lines[1] and "1,234 img/s" in lines[1] and "eta" in lines[1]


def test_a_resumed_run_prints_only_its_new_epochs(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    store.write("epochs", [epoch_row(0)], epoch=0)
    out = io.StringIO()
    with EpochFollower(Console(out, out), store, 2, epoch_summary, evaluates=False, poll_s=3600):
        store.write("epochs", [epoch_row(1)], epoch=1)
    assert [line.split("  ")[0] for line in out.getvalue().splitlines()] == ["epoch 2/2"]


def test_ray_trains_retry_of_a_failed_worker_group_is_one_warning(tmp_path):
    # Ray Train's controller logs this block (ray/train/v2/.../failure_handling/default.py),
    # each line prefixed by the actor's name when forwarded to the driver.
    log = tmp_path / "driver.log"
    log.write_text("noise\n"
                   "\x1b[36m(TrainController pid=7)\x1b[0m [FailurePolicy] RETRY\n"
                   "\x1b[36m(TrainController pid=7)\x1b[0m   Source: worker group\n"
                   "\x1b[36m(TrainController pid=7)\x1b[0m   Error count: 1 (max allowed: 2)\n"
                   "\x1b[36m(TrainController pid=7)\x1b[0m Error: Training failed due to worker "
                   "errors: ActorDiedError\nTraceback ...\n")
    out, err = io.StringIO(), io.StringIO()
    with EpochFollower(Console(out, err), MetricsStore(str(tmp_path), "r"), 2, epoch_summary,
                       evaluates=False, log_path=str(log), poll_s=3600) as follower:
        with log.open("a") as f:  # what the log held before the run is not this run's
            f.write(log.read_text())
        follower.poll()
        follower.poll()
    (line,) = err.getvalue().splitlines()
    assert line.startswith("warning: a training worker failed (Training failed due to worker "
                           "errors: ActorDiedError)")
    assert line.endswith("(failure 1 of at most 2)")
    assert out.getvalue() == ""


CAPTURE = """
import os, subprocess, sys
from lib.console import captured, say
with captured(sys.argv[1] + "/r/logs") as (console, log):
    print("from python")
    os.write(2, b"from a C library\\n")
    subprocess.run(["echo", "from a child process"])
    with captured(sys.argv[1] + "/inner/logs") as (inner, _):  # bench running a job
        inner.line("the inner job's line")
        print("the inner job's noise")
    say("for the person")
print("after")
"""


def test_a_run_prints_its_own_lines_and_logs_everything_else(tmp_path):
    result = subprocess.run([sys.executable, "-c", CAPTURE, str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "for the person\nafter\n" and result.stderr == ""
    logged = (tmp_path / "r" / "logs" / "driver.log").read_text()
    assert logged.splitlines() == ["from python", "from a C library", "from a child process",
                                   "the inner job's line"]
    assert (tmp_path / "inner" / "logs" / "driver.log").read_text() == "the inner job's noise\n"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_of_steps_that_the_epoch_line_replaces(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    where = StepProgress(str(tmp_path), "r", enabled=True, every_s=0)
    steps = lambda: read_progress(str(tmp_path), "r")  # noqa: E731
    out = Terminal()
    with EpochFollower(Console(out, out), store, 2, epoch_summary, evaluates=False,
                       poll_s=3600, steps=steps) as follower:
        follower.poll()
        assert out.getvalue() == ""  # no step reported yet
        where.update(0, 25, 100)
        follower.poll()
        assert out.getvalue() == "\r\x1b[Kepoch 1/2  [#######.......................] " \
                                 "25/100 steps  [0:00]"
        where.update(0, 100, 100)
        store.write("epochs", [epoch_row(0)], epoch=0)
        follower.poll()  # the epoch's line clears the bar; epoch 0's steps are not redrawn
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 2 and text.endswith("\n")  # the bar, then its erasing
    assert text.split("\r\x1b[K")[2].startswith("epoch 1/2  loss 1.250")
    # Not a terminal (a file, `ray job logs`): lines only.
    plain = io.StringIO()
    with EpochFollower(Console(plain, plain), store, 2, epoch_summary, evaluates=False,
                       poll_s=3600, steps=steps) as follower:
        where.update(1, 50, 100)
        follower.poll()
    assert plain.getvalue() == ""


def test_rank_0_writes_its_steps_at_most_once_a_second_and_always_the_last():
    now = [0.0]
    written = []
    progress = StepProgress("/unused", "r", enabled=True, clock=lambda: now[0])

    class Recorder:  # the writes, instead of files
        def create_dir(self, path, recursive):
            pass

        def open_output_stream(self, path):
            return io.BytesIO()

        def move(self, source, target):
            written.append(now[0])

    progress.fs = Recorder()
    for step in range(1, 11):
        now[0] = step * 0.25
        progress.update(0, step, 10)
    assert written == [0.25, 1.25, 2.25, 2.5]  # a second apart, then the epoch's last step
    StepProgress("/unused", "r", enabled=False).update(0, 10, 10)  # nothing: no file system


def test_undoing_puts_back_what_a_captured_log_would_change(tmp_path):
    from lib.console import undoing

    fresh = tmp_path / "a" / "b" / "logs"
    undo = undoing(str(fresh))
    fresh.mkdir(parents=True)
    (fresh / "driver.log").write_text("this attempt\n")
    undo()
    assert not (tmp_path / "a").exists()  # the topmost directory it made goes, no more

    earlier = tmp_path / "out" / "logs"
    earlier.mkdir(parents=True)
    (earlier / "driver.log").write_text("an earlier attempt\n")
    (tmp_path / "out" / "notes").write_text("mine")
    undo = undoing(str(earlier))
    with open(earlier / "driver.log", "a") as f:
        f.write("this attempt\n")
    undo()
    assert (earlier / "driver.log").read_text() == "an earlier attempt\n"
    assert (tmp_path / "out" / "notes").read_text() == "mine"

    (earlier / "driver.log").unlink()
    undo = undoing(str(earlier))
    (earlier / "driver.log").write_text("this attempt\n")
    undo()
    assert earlier.is_dir() and not (earlier / "driver.log").exists()
