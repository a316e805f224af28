"""The distributed step's arithmetic, through Ray Train, on real images."""

import numpy as np
import pytest
from PIL import Image

from lib.data.feed import caffe_preprocess
from lib.train.backend import tensorflow_trainer

STEPS, GLOBAL_BATCH = 3, 8


def worker(config):
    import keras
    import ray.train
    import tensorflow as tf

    from lib.models import ModelPlan, build_model
    from lib.train.steps import make_train_steps
    from lib.train.strategy import configure_devices, distribute_batch, make_strategy

    m = config["cpu_devices"]
    configure_devices(m)
    keras.utils.set_random_seed(0)
    strategy = make_strategy(m, collective_timeout_s=120)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    assert strategy.num_replicas_in_sync == world * m
    with strategy.scope():
        # A small cut of VGG16 keeps the test quick; the loop is the same for any cut.
        model = build_model(ModelPlan("none", (32, 32, 3), 32, "block2_pool", 5, 10))
        # SGD, not Adam: Adam is invariant to the gradient's scale, so it would hide a loss
        # averaged over the wrong batch size.
        optimizer = keras.optimizers.SGD(1e-6)  # caffe inputs are O(100)
        optimizer.build(model.trainable_variables)
    np.savez(f"{config['out']}/init{rank}.npz", *model.get_weights())
    local = GLOBAL_BATCH // world
    x, y = config["x"], config["y"]
    batches = [slice(k * GLOBAL_BATCH + rank * local, k * GLOBAL_BATCH + (rank + 1) * local)
               for k in range(config["steps"])]
    steps = make_train_steps(strategy, model, optimizer, GLOBAL_BATCH)
    if config["stacked"]:  # all steps in one call, as the loop runs cached features
        stack = (np.stack([x[rows] for rows in batches]), np.stack([y[rows] for rows in batches]))
        steps(distribute_batch(strategy, stack, m, axis=1), tf.constant(len(batches)))
    else:  # a stack of one per call
        for rows in batches:
            steps(distribute_batch(strategy, (x[rows][None], y[rows][None]), m, axis=1),
                  tf.constant(1))
    np.savez(f"{config['out']}/rank{rank}.npz", *model.get_weights())


def weights(path) -> list:
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda n: int(n.split("_")[1]))]


def run(tmp_path, images, labels, workers, cpu_devices, steps=STEPS, stacked=False):
    """(each worker's weights after the steps, rank 0's before them)."""
    from ray.train import RunConfig, ScalingConfig

    out = tmp_path / f"{workers}x{cpu_devices}-{steps}steps{'-stacked' * stacked}"
    out.mkdir()
    tensorflow_trainer(
        worker, scaling_config=ScalingConfig(num_workers=workers),
        train_loop_config={"x": images, "y": labels, "out": str(out), "cpu_devices": cpu_devices,
                           "steps": steps, "stacked": stacked},
        run_config=RunConfig(storage_path=str(tmp_path / "storage"), name=out.name),
    ).fit()
    return ([weights(out / f"rank{rank}.npz") for rank in range(workers)],
            weights(out / "init0.npz"))


@pytest.mark.slow
def test_replicas_agree_and_scale_out_matches_one_worker(cifar_jpeg, tmp_path, ray_local):
    files = [sorted((cifar_jpeg / "train" / c).iterdir())[0]
             for c in sorted((cifar_jpeg / "train").iterdir()) for _ in range(1)]
    files = (files * 3)[:STEPS * GLOBAL_BATCH]
    images = caffe_preprocess(np.stack([np.asarray(Image.open(f)) for f in files]))
    labels = np.array([i % 10 for i in range(len(files))], np.int32)

    (one,), init = run(tmp_path, images, labels, workers=1, cpu_devices=1)
    two, _ = run(tmp_path, images, labels, workers=2, cpu_devices=1)
    # 2 x 2 replicas, all steps in one call as the loop runs cached features (a call per
    # step on 2 local replicas: tests/train/test_steps.py).
    stacked, _ = run(tmp_path, images, labels, workers=2, cpu_devices=2, stacked=True)
    for pair in (two, stacked):  # (1) every worker holds the same weights
        for a, b in zip(*pair):
            np.testing.assert_array_equal(a, b)
    # (2) 1 worker, 2 workers and 2 x 2 replicas take the same steps: the differences are
    # float noise, a thousand times smaller than how far the steps moved the weights.
    moved = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(one, init)))
    assert moved > 1e-3
    for other in (two[0], stacked[0]):
        gap = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(one, other)))
        assert gap < 1e-3 * moved, (gap, moved)
