"""A sweep end to end on tiny data: every grid point a completed run the report reads,
nothing redone by running it again, a failing point isolated, and a stopped sweep's
runs recorded stopped and finished by running it again."""

import json
import os
import signal
import subprocess
import sys
import time

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


def write_spec(tmp_path, cifar_jpeg, name, grid, relative=False):
    """`relative`: the data as a path relative to where the sweep runs (REPO)."""
    spec = tmp_path / f"{name}.toml"
    data = os.path.relpath(cifar_jpeg, REPO) if relative else cifar_jpeg
    spec.write_text(SPEC.format(name=name, data=data, storage=tmp_path / "runs", grid=grid))
    return spec


def sweep(tmp_path, cifar_jpeg, name, grid, *args, relative=False):
    spec = write_spec(tmp_path, cifar_jpeg, name, grid, relative)
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


@pytest.mark.slow
def test_a_stopped_sweep_records_its_run_stopped_and_a_rerun_finishes_only_the_rest(
        cifar_jpeg, tmp_path):
    grid = 'seed = [0, 1]\nepochs = [12]'
    spec = write_spec(tmp_path, cifar_jpeg, "s", grid)
    first, second = "s-seed=0-epochs=12", "s-seed=1-epochs=12"
    runs = str(tmp_path / "runs")
    process = subprocess.Popen([sys.executable, "-m", "jobs.sweep", str(spec)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # SIGTERM (what `ray job stop` sends) once the second run has four epochs behind it (by
    # then Ray Train has normally registered a checkpoint of it: asserted below): stopped
    # mid-training, so its resumption has rows it must not write again.
    deadline = time.monotonic() + 600
    while len(MetricsStore(runs, second).files("epochs")) < 4:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no epoch of {second} before the sweep ended or 600 s: "
                        f"{process.communicate()[1][-3000:]}")
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, out[-3000:] + err[-3000:]
    assert err.strip().splitlines()[-1].startswith(
        f"error: sweep stopped by SIGTERM: 1 run(s) recorded stopped: {second}; "), err
    (record,) = MetricsStore(runs, second).read("runs").to_pylist()
    assert record["status"] == "stopped" and 3 <= record["epochs_done"] < 12, record
    assert MetricsStore(runs, first).read("runs").to_pylist()[0]["status"] == "completed"
    kept = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "runs" / first).rglob("*.parquet")}
    # Ray Train resumes from the latest checkpoint its controller had registered (the one
    # Result.from_path reads). Checkpoints the worker had written and queued behind it when
    # the stop came (seen: two) are not resumed from: their epochs are redone, and as rows
    # are a file per epoch, a redone epoch replaces its rows rather than adding any.
    import ray.train

    latest = ray.train.Result.from_path(str(tmp_path / "runs" / second))
    assert latest.checkpoint is not None
    resumed_after = latest.metrics["epoch"]
    written = {p: os.stat(p).st_mtime_ns
               for p in (tmp_path / "runs" / second / "metrics").glob("*-e????.parquet")}
    done = {p: ns for p, ns in written.items() if epoch_of(p) <= resumed_after}
    redone = {p: ns for p, ns in written.items() if epoch_of(p) > resumed_after}
    assert done, written

    again = subprocess.run([sys.executable, "-m", "jobs.sweep", str(spec)], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"started {second}" in again.stdout and f"started {first}" not in again.stdout
    assert {p: os.stat(p).st_mtime_ns for p in kept} == kept
    store = MetricsStore(runs, second)
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed" and record["epochs_done"] == 12
    epochs = store.read("epochs").column("epoch").to_pylist()
    assert sorted(epochs) == list(range(12)), epochs
    assert {p: os.stat(p).st_mtime_ns for p in done} == done  # none redone
    assert all(os.stat(p).st_mtime_ns != ns for p, ns in redone.items())  # from that checkpoint


def epoch_of(path) -> int:
    """The epoch of a metrics file named `<table>-e0003.parquet`."""
    return int(path.stem.rsplit("-e", 1)[1])


@pytest.mark.slow
def test_concurrent_trials_sharing_features_extract_them_once(cifar_jpeg, tmp_path):
    # Two methods on the same data at the same time: one trial extracts each cache entry,
    # the other waits for it and reads it (without the lock both extract, and the second
    # commit deletes the first's files under its reader).
    spec = write_spec(tmp_path, cifar_jpeg, "c",
                      'method = ["source-only", "adabn"]\ncpus-per-worker = [1]')
    done = subprocess.run([sys.executable, "-m", "jobs.sweep", str(spec), "--max-concurrent",
                           "2"], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env=os.environ | {"RAY_DEDUP_LOGS": "0"})  # every trial's line
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 at once" in done.stdout, done.stdout
    log = (tmp_path / "runs" / "sweeps" / "c" / "logs" / "driver.log").read_text()
    extracting = [line for line in log.splitlines() if "extracting block4_pool" in line]
    waiting = [line for line in log.splitlines() if "waiting for another run" in line]
    assert len(extracting) == 1, extracting
    assert waiting, log[-3000:]  # the trials did overlap: the test tests the lock
    cache = tmp_path / "runs" / "feature-cache"
    entries = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 4 and all((p / "manifest.json").is_file() for p in entries), entries
    assert not list(cache.glob(".staging-*"))


@pytest.mark.slow
def test_a_sweep_on_two_nodes_places_runs_on_both_and_completes_every_one(cifar_jpeg,
                                                                          tmp_path):
    # Four runs, two at once, each a worker of two CPUs on nodes of three: runs training
    # side by side must be on different nodes.
    spec = write_spec(tmp_path, cifar_jpeg, "n",
                      'method = ["source-only", "adabn"]\nseed = [0, 1]\ncpus-per-worker = [2]\n'
                      'epochs = [8]')  # long enough for two runs' training to overlap
    # Three CPUs a node and two a training worker: two runs training at once cannot share
    # a node, so the nodes the workers land on show the sweep using the whole cluster.
    out = subprocess.run([sys.executable, "-m", "tests.two_nodes", "3", sys.executable, "-m",
                          "jobs.sweep", str(spec), "--address", "{address}",
                          "--max-concurrent", "2"], cwd=REPO, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["returncode"] == 0, result["stdout"][-3000:] + result["stderr"]
    assert "4 of 4 runs completed" in result["stdout"], result["stdout"]
    assert len(result["nodes"]) == 2
    assert set(result["actor_nodes"]["RayTrainWorker"]) == set(result["nodes"]), result
