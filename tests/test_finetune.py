"""The finetune job end to end on small real subsets."""

import os

import numpy as np
import pytest

from lib.config import (
    DataConfig,
    FinetuneConfig,
    FinetuneOptimConfig,
    ModelConfig,
    RunOptions,
    ScalingOptions,
)
from lib.finetune import finetune
from lib.metrics.store import MetricsStore
from lib.phases import RAY_TRAIN
from lib.train.checkpoint import latest_in_run, named_weights
from tests.train.test_inputs import entries


def small(cifar_jpeg, storage, run, *, feature_cache=True, per_class=10, epochs=3, workers=1,
          resume=None, trainable="head", init_from=None, learning_rate=1e-3, augment=False):
    return FinetuneConfig(
        source=f"folder:{cifar_jpeg}/train", val=f"folder:{cifar_jpeg}/test",
        data=DataConfig(limit_per_class=per_class, seed=1),
        model=ModelConfig(weights="hed", feature_layer="block4_pool", trainable=trainable,
                          feature_cache=feature_cache, init_from=init_from),
        optim=FinetuneOptimConfig(epochs=epochs, batch_size=10, learning_rate=learning_rate,
                                  augment=augment),
        scaling=ScalingOptions(workers=workers),
        run=RunOptions(storage=str(storage), run_name=run, resume=resume),
    )


@pytest.mark.slow
def test_augmented_run_trains_on_images_not_cached_features(cifar_jpeg, tmp_path, ray_local):
    finetune(small(cifar_jpeg, tmp_path, "augmented", trainable="top:1", augment=True, epochs=2))
    store = MetricsStore(str(tmp_path), "augmented")
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed" and record["epochs_done"] == 2
    assert not (tmp_path / "feature-cache").exists()  # a cached output is of the plain image


@pytest.mark.slow
def test_fast_path_matches_slow_path_then_stage_two_starts_from_it(cifar_jpeg, tmp_path, ray_local):
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
        phases = dict(record["phases"])  # lib/phases.py: rank 0's phases folded in
        assert {"training steps", "evaluation", RAY_TRAIN} <= set(phases)
        assert phases["training steps"] == pytest.approx(sum(
            store.read("epochs").column("epoch_seconds").to_pylist()))
    # The cache was filled once per dataset and reused by nothing else here.
    assert len(entries(tmp_path)) == 2

    # --resume of a finished run continues from its last checkpoint: nothing is redone.
    epochs = MetricsStore(str(tmp_path), "fast").files("epochs")
    stamps = [os.stat(p).st_mtime_ns for p in epochs]
    finetune(small(cifar_jpeg, tmp_path, None, resume="fast"))
    assert [os.stat(p).st_mtime_ns for p in epochs] == stamps

    # Stage two: block 4 trains too, on cached block-3 outputs, from stage one's head.
    finetune(small(cifar_jpeg, tmp_path, "stage-two", trainable="top:1", init_from="fast",
                   epochs=1, learning_rate=1e-4))
    store = MetricsStore(str(tmp_path), "stage-two")
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed"
    # 10 Adam steps at 1e-4 move a weight by 1e-3 at most; a fresh head is ~0.05 away.
    moved = np.abs(saved_weight(tmp_path / "stage-two", "head_dense/kernel")
                   - saved_weight(tmp_path / "fast", "head_dense/kernel")).max()
    assert moved < 2e-3, moved
    assert saved_weight(tmp_path / "stage-two", "block4_conv3/kernel").shape == (3, 3, 512, 512)
    assert len(entries(tmp_path)) == 4  # + block3_pool, train and val


def saved_weight(run_dir, name):
    """One weight of the run's latest checkpoint, by its Keras path."""
    return named_weights(latest_in_run(str(run_dir)))[name]
