"""Training workers that die or hang: a lost worker costs a restart from the last
checkpoint, not the run; more losses than allowed fail the run cleanly; a hung worker
fails the group within the collective timeout instead of hanging it. Each test reports
its figures (tests/reliability/figures.py)."""

import os
import signal
import statistics
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from lib.metrics.store import MetricsStore
from tests.conftest import REPO
from tests.drivers import start, train_workers, wait_for_file
from tests.reliability.figures import report_figures

pytestmark = pytest.mark.slow
EPOCHS, PER_CLASS, BATCH = 12, 40, 8
STEPS_PER_EPOCH = PER_CLASS * 10 // 2 // BATCH  # per worker: half the source rows each


def adapt_args(cifar_jpeg, storage, run, *extra):
    return [sys.executable, "-m", "jobs.adapt", "--source", f"folder:{cifar_jpeg}/train",
            "--target", f"folder:{cifar_jpeg}/train", "--target-shift", "fog@4",
            "--source-val", f"folder:{cifar_jpeg}/test", "--target-test",
            f"folder:{cifar_jpeg}/test", "--eval-limit-per-class", "10",
            "--limit-per-class", str(PER_CLASS), "--weights", "hed",
            "--feature-layer", "block4_pool", "--batch-size", str(BATCH),
            "--epochs", str(EPOCHS), "--workers", "2", "--cpus-per-worker", "1",
            "--selection-samples", "40", "--embedding-samples", "0", "--seed", "3",
            "--storage", str(storage), "--run-name", run, *extra]


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    """One storage for the module: its feature cache is filled once."""
    return tmp_path_factory.mktemp("faults")


def epoch_files(storage, run):
    return sorted((storage / run / "metrics").glob("epochs-e*.parquet"))


def assert_every_visible_file_whole(storage, run):
    for path in (storage / run / "metrics").glob("*.parquet"):
        pq.read_table(path)


def target_accuracy_at_last_epoch(store) -> float:
    evals = [e for e in store.read("evals").to_pylist() if e["split"] == "target_test"]
    return max(evals, key=lambda e: e["epoch"])["accuracy"]


def test_a_killed_worker_costs_a_restart_not_the_run(cifar_jpeg, storage, capsys):
    undisturbed = subprocess.run(adapt_args(cifar_jpeg, storage, "undisturbed"), cwd=REPO,
                                 capture_output=True, text=True, timeout=900)
    assert undisturbed.returncode == 0, undisturbed.stderr[-3000:]

    driver = start(adapt_args(cifar_jpeg, storage, "killed", "--max-failures", "2"), storage)
    metrics = storage / "killed" / "metrics"
    wait_for_file(metrics / "epochs-e0003.parquet", driver)
    time.sleep(0.3)  # into the next epoch
    done_before = len(epoch_files(storage, "killed"))
    last_before = max(p.stat().st_mtime for p in epoch_files(storage, "killed"))
    victim = train_workers(driver)[-1]
    victim.kill()
    killed_at = time.time()
    next_epoch = metrics / f"epochs-e{done_before:04d}.parquet"
    recovered_at = wait_for_file(next_epoch, driver) if not next_epoch.exists() else None
    stderr = driver.wait(900)
    assert driver.returncode == 0, stderr[-3000:]

    killed, calm = (MetricsStore(str(storage), r) for r in ("killed", "undisturbed"))
    epochs = killed.read("epochs").column("epoch").to_pylist()
    assert sorted(epochs) == list(range(EPOCHS))  # no epoch missing, none twice
    assert sorted(killed.read("evals").column("epoch").to_pylist()) == \
        sorted(list(range(EPOCHS)) * 2)
    (record,) = killed.read("runs").to_pylist()
    assert record["status"] == "completed" and record["epochs_done"] == EPOCHS
    assert_every_visible_file_whole(storage, "killed")
    accuracy, calm_accuracy = target_accuracy_at_last_epoch(killed), \
        target_accuracy_at_last_epoch(calm)
    # Restarts replay the lost epoch with the same shuffle, so the result stays within noise.
    assert abs(accuracy - calm_accuracy) <= 0.05, (accuracy, calm_accuracy)

    epoch_time = statistics.median(e["epoch_seconds"] for e in calm.read("epochs").to_pylist())
    seconds_into_epoch = killed_at - last_before
    report_figures(
        capsys, "SIGKILL one of 2 workers mid-run, --max-failures 2",
        seconds_to_recover=round(recovered_at - killed_at, 1) if recovered_at else None,
        normal_epoch_seconds=round(epoch_time, 2),
        # The killed epoch is redone from its start: the steps it had done are lost.
        steps_per_epoch=STEPS_PER_EPOCH,
        steps_redone_estimate=round(min(1.0, seconds_into_epoch / epoch_time) * STEPS_PER_EPOCH),
        final_target_accuracy=accuracy, undisturbed_final_target_accuracy=calm_accuracy,
        duplicated_epoch_rows=len(epochs) - len(set(epochs)))


def test_more_failures_than_allowed_fail_the_run_cleanly(cifar_jpeg, storage, capsys):
    driver = start(adapt_args(cifar_jpeg, storage, "too-many", "--max-failures", "0"), storage)
    wait_for_file(storage / "too-many" / "metrics" / "epochs-e0001.parquet", driver)
    train_workers(driver)[-1].kill()
    killed_at = time.time()
    stderr = driver.wait(600)
    ended = time.time() - killed_at
    assert driver.returncode == 1
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith("error: training failed: "), stderr[-3000:]
    (record,) = MetricsStore(str(storage), "too-many").read("runs").to_pylist()
    assert record["status"] == "failed" and "training failed" in record["message"]
    assert_every_visible_file_whole(storage, "too-many")
    report_figures(capsys, "SIGKILL a worker with --max-failures 0",
                   exit_code=driver.returncode, seconds_from_kill_to_exit=round(ended, 1),
                   run_status=record["status"])


def test_a_hung_worker_fails_the_group_within_the_collective_timeout(cifar_jpeg, storage,
                                                                      capsys):
    timeout_s = 20
    driver = start(adapt_args(cifar_jpeg, storage, "hung", "--max-failures", "0",
                              "--collective-timeout-s", str(timeout_s)), storage)
    wait_for_file(storage / "hung" / "metrics" / "epochs-e0001.parquet", driver)
    victim = train_workers(driver)[-1]
    victim.suspend()  # SIGSTOP
    stopped_at = time.time()
    try:
        stderr = driver.wait(timeout_s + 240)
    finally:
        if victim.is_running():
            os.kill(victim.pid, signal.SIGKILL)
    detected = time.time() - stopped_at
    assert driver.returncode == 1, stderr[-3000:]
    assert detected < timeout_s + 120, detected
    (record,) = MetricsStore(str(storage), "hung").read("runs").to_pylist()
    assert record["status"] == "failed"
    report_figures(capsys, "SIGSTOP a worker, --collective-timeout-s 20",
                   seconds_to_fail_the_run=round(detected, 1),
                   error=next(line for line in stderr.splitlines()
                              if line.startswith("error: "))[:200])
