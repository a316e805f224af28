"""The finetune job end to end on small real subsets."""

import os
import sys

import pytest

from lib.config import FinetuneConfig, ModelConfig, OptimConfig, RunOptions, ScalingOptions, SelectionConfig
from lib.finetune import finetune
from lib.metrics.store import MetricsStore
from tests.drivers import start, train_workers, wait_for_file


def small(cifar_jpeg, storage, run, *, feature_cache=True, per_class=10, epochs=3, workers=1,
          resume=None):
    return FinetuneConfig(
        source=f"folder:{cifar_jpeg}/train", val=f"folder:{cifar_jpeg}/test",
        selection=SelectionConfig(limit_per_class=per_class, seed=1),
        model=ModelConfig(weights="hed", feature_layer="block4_pool", trainable="head",
                          feature_cache=feature_cache),
        optim=OptimConfig(epochs=epochs, batch_size=10),
        scaling=ScalingOptions(workers=workers),
        run=RunOptions(storage=str(storage), run_name=run, resume=resume),
    )


@pytest.mark.slow
def test_fast_path_matches_slow_path_and_loss_falls(cifar_jpeg, tmp_path, ray_local):
    fast = finetune(small(cifar_jpeg, tmp_path, "fast"))
    slow = finetune(small(cifar_jpeg, tmp_path, "slow", feature_cache=False))
    assert fast["num_examples"] == slow["num_examples"] == 100
    assert abs(fast["accuracy"] - slow["accuracy"]) <= 0.1, (fast["accuracy"], slow["accuracy"])
    for run in ("fast", "slow"):
        store = MetricsStore(str(tmp_path), run)
        losses = store.read("epochs").sort_by("epoch").column("loss").to_pylist()
        assert len(losses) == 3 and losses[-1] < losses[0], losses
        (record,) = store.read("runs").to_pylist()
        assert record["status"] == "completed" and record["epochs_done"] == 3
        assert record["job"] == "finetune" and record["workers"] == 1
    # The cache was filled once per dataset and reused by nothing else here.
    assert len(list((tmp_path / "feature-cache").iterdir())) == 2

    # --resume of a finished run continues from its last checkpoint: nothing is redone.
    epochs = MetricsStore(str(tmp_path), "fast").files("epochs")
    stamps = [os.stat(p).st_mtime_ns for p in epochs]
    finetune(small(cifar_jpeg, tmp_path, None, resume="fast"))
    assert [os.stat(p).st_mtime_ns for p in epochs] == stamps


@pytest.mark.slow
def test_killing_a_worker_mid_run_completes_without_duplicate_rows(cifar_jpeg, tmp_path):
    epochs = 8
    driver = start(
        [sys.executable, "-m", "jobs.finetune", "--source", f"folder:{cifar_jpeg}/train",
         "--val", f"folder:{cifar_jpeg}/test", "--limit-per-class", "50", "--weights", "hed",
         "--epochs", str(epochs), "--workers", "2", "--max-failures", "2",
         "--storage", str(tmp_path), "--run-name", "killed"], tmp_path)
    wait_for_file(tmp_path / "killed" / "metrics" / "epochs-e0001.parquet", driver)
    victims = train_workers(driver)
    assert len(victims) == 2
    victims[1].kill()
    stderr = driver.wait(900)
    assert driver.returncode == 0, stderr[-3000:]
    store = MetricsStore(str(tmp_path), "killed")
    assert sorted(store.read("epochs").column("epoch").to_pylist()) == list(range(epochs))
    evals = store.read("evals")
    assert sorted(evals.column("epoch").to_pylist()) == list(range(epochs))
    assert set(evals.column("num_examples").to_pylist()) == {500}
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed"
