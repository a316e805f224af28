"""A sweep end to end on tiny data: every grid point a completed run the report reads,
nothing redone by running it again, and a failing point isolated."""

import os
import subprocess
import sys

import pytest

from lib.metrics.store import MetricsStore
from tests.conftest import REPO

SPEC = """
job = "adapt"
name = "{name}"
[options]
source = "folder:{data}/train"
target = "folder:{data}/train"
target-shift = "contrast@5"
source-val = "folder:{data}/test"
target-test = "folder:{data}/test"
limit-per-class = 8
eval-limit-per-class = 4
weights = "hed"
feature-layer = "block4_pool"
epochs = 2
batch-size = 8
selection-samples = 30
embedding-samples = 0
lr-alpha = 0
storage = "{storage}"
[grid]
{grid}
"""


def sweep(tmp_path, cifar_jpeg, name, grid, *args, relative=False):
    """`relative`: the data as a path relative to where the sweep runs (REPO)."""
    spec = tmp_path / f"{name}.toml"
    data = os.path.relpath(cifar_jpeg, REPO) if relative else cifar_jpeg
    spec.write_text(SPEC.format(name=name, data=data, storage=tmp_path / "runs", grid=grid))
    return subprocess.run([sys.executable, "-m", "jobs.sweep", str(spec), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_a_grid_runs_once_and_a_failing_point_is_isolated(cifar_jpeg, tmp_path):
    done = sweep(tmp_path, cifar_jpeg, "g", 'method = ["dann", "source-only"]\nseed = [0, 1]')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = [f"g-method={m}-seed={s}" for m in ("dann", "source-only") for s in (0, 1)]
    for name in names:
        assert f"completed {name}: accuracy" in done.stdout, done.stdout
        (record,) = MetricsStore(str(tmp_path / "runs"), name).read("runs").to_pylist()
        assert record["status"] == "completed"
    assert "4 of 4 runs completed" in done.stdout
    assert len(done.stdout.splitlines()) <= 20, done.stdout  # Ray's and the runs' own: the log
    report = subprocess.run([sys.executable, "-m", "jobs.report", str(tmp_path / "runs"),
                             "--seeds", "mean", "--format", "csv"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    rows = report.stdout.strip().splitlines()[1:]
    assert len(rows) == 2 and all(",0;1," in row or "0,1" in row for row in rows), report.stdout

    # Again: every run is done, nothing is redone.
    files = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "runs").rglob("*.parquet")}
    again = sweep(tmp_path, cifar_jpeg, "g", 'method = ["dann", "source-only"]\nseed = [0, 1]')
    assert again.returncode == 0 and "started" not in again.stdout, again.stdout
    assert {p: os.stat(p).st_mtime_ns for p in files} == files

    # An absurd rate diverges: that run fails, the other completes, the sweep exits 1.
    # (Its data is a relative path: a trial runs where the sweep does.)
    failing = sweep(tmp_path, cifar_jpeg, "f", 'method = ["source-only"]\n'
                    'learning-rate = [3e-4, 1e30]', relative=True)
    assert failing.returncode == 1, failing.stdout[-3000:] + failing.stderr[-3000:]
    (line,) = failing.stderr.strip().splitlines()
    assert line == ("error: 1 of 2 runs did not complete: "
                    "f-method=source-only-learning-rate=1e+30"), line
    statuses = {name: MetricsStore(str(tmp_path / "runs"), name).read("runs").to_pylist()[0]
                ["status"] for name in ("f-method=source-only-learning-rate=0.0003",
                                        "f-method=source-only-learning-rate=1e+30")}
    assert list(statuses.values()) == ["completed", "failed"]

    # Again: the failed run is resumed (and fails again), the completed one is left alone.
    retried = sweep(tmp_path, cifar_jpeg, "f", 'method = ["source-only"]\n'
                    'learning-rate = [3e-4, 1e30]', relative=True)
    assert retried.returncode == 1
    assert "started f-method=source-only-learning-rate=1e+30" in retried.stdout
    assert "started f-method=source-only-learning-rate=0.0003" not in retried.stdout
    assert "failed f-method=source-only-learning-rate=1e+30" in retried.stdout
    (record,) = MetricsStore(str(tmp_path / "runs"),
                             "f-method=source-only-learning-rate=1e+30").read("runs").to_pylist()
    assert record["status"] == "failed" and "non-finite" in record["message"]
