"""A process killed while it writes a metrics table: readers see the old table or the new
one, never a broken one (the write goes to a dot-named temp file, then a rename)."""

import random
import subprocess
import sys
import time

from lib.metrics.store import MetricsStore
from lib.report.load import read_metrics
from tests.conftest import REPO
from tests.reliability.figures import report_figures

ROWS = 40_000  # about a megabyte: a write takes long enough for a kill to land inside it

WRITER = f"""
import sys
from lib.metrics.store import MetricsStore

store = MetricsStore(sys.argv[1], "r")
version = 0
print("ready", flush=True)
while True:
    version += 1
    rows = [{{"run": "r", "job": "adapt", "method": "dann", "epoch": 0, "loss": float(version),
              "accuracy": 0.5, "images_per_s": 1.0, "epoch_seconds": 1.0}}] * {ROWS}
    store.write("epochs", rows, epoch=0)
"""


def kill_inside_a_write(writer, metrics_dir, timeout_s=30):
    """SIGKILL the moment a temp file shows the writer is inside a write."""
    deadline = time.monotonic() + timeout_s
    while not (metrics_dir.is_dir() and any(p.name.startswith(".") for p in metrics_dir.iterdir())):
        assert time.monotonic() < deadline, "the writer never started a write"
    writer.kill()


def test_sigkill_during_writes_never_leaves_a_broken_table(tmp_path, capsys):
    rng = random.Random(0)
    kills, mid_write, versions = 12, 0, set()
    store = MetricsStore(str(tmp_path), "r")
    metrics_dir = tmp_path / "r" / "metrics"
    for k in range(kills):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO,
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        if k % 2:  # at a random moment: between writes as often as inside one
            time.sleep(rng.uniform(0.05, 1.0))
            writer.kill()
        else:
            time.sleep(rng.uniform(0.0, 0.5))
            kill_inside_a_write(writer, metrics_dir)
        writer.wait()
        temp_files = list((tmp_path / "r" / "metrics").glob(".*"))
        mid_write += bool(temp_files)
        table = store.read("epochs")  # raises on a broken file
        losses = set(table.column("loss").to_pylist())
        assert len(table) in (0, ROWS) and len(losses) <= 1  # one whole version, or none yet
        versions |= losses
        metrics = read_metrics([str(tmp_path)])
        assert len(metrics.read("epochs")) == len(table) and not metrics.warnings
        for temp in temp_files:  # the next writer starts from a clean directory
            temp.unlink()
    assert mid_write >= kills // 2, f"only {mid_write} of {kills} kills landed inside a write"
    report_figures(capsys, "kill during a metrics write", kills=kills,
                   kills_inside_a_write=mid_write, broken_tables_seen=0,
                   versions_seen=len(versions))
