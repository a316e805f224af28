"""The method contract's shared arithmetic: a loss is a plain mean over a replica's
batch, and minimise makes N replicas step as one on the whole batch."""

import json
import subprocess
import sys

import numpy as np
import pytest

REPLICA_SCRIPT = """
import json, os, sys
os.environ.pop("TF_CONFIG", None)  # one local worker: an inherited cluster spec would wait for peers
import numpy as np
from lib.train.strategy import configure_devices, make_strategy
configure_devices(2)
import keras, tensorflow as tf
from lib.adapt.method import classified, minimise
from lib.train.strategy import distribute_batch

rng = np.random.default_rng(0)
xs = rng.normal(size=(3, 8, 6)).astype(np.float32)   # 3 steps of a global batch of 8
ys = (np.arange(24).reshape(3, 8) % 4).astype(np.int32)
final = {}
for replicas in (2, 1):  # collectives must be set up before TF runs any op
    strategy = make_strategy(replicas, 60) if replicas > 1 else tf.distribute.get_strategy()
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        optimizer = keras.optimizers.SGD(0.5)  # SGD keeps the gradient's scale (Adam would not)
        optimizer.build(model.trainable_variables)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss, terms = classified(model(x, training=True), y)
        minimise(tape, loss, [(optimizer, model.trainable_variables)])
        return terms["loss"][0]

    step = tf.function(lambda x, y: strategy.run(replica_step, args=(x, y)))
    total = 0.0
    for k in range(3):
        x, y = distribute_batch(strategy, (xs[k], ys[k]), replicas)
        total += float(strategy.reduce("SUM", step(x, y), axis=None))
    final[replicas] = {"weights": [w.tolist() for w in model.get_weights()],
                       "loss_sum": total, "replicas": strategy.num_replicas_in_sync}
json.dump(final, sys.stdout)
"""


def test_two_replicas_of_a_plain_mean_step_exactly_as_one_with_the_whole_batch():
    """Each replica's loss is the mean over its own 4 rows; minimise divides its gradient
    by the 2 replicas, and the optimizer sums them: the step of the mean over all 8. Without
    the division every step would be twice as large. Outside Ray (2 logical CPUs in a
    fresh process): seconds."""
    from tests.conftest import REPO

    out = subprocess.run([sys.executable, "-c", REPLICA_SCRIPT], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    final = json.loads(out.stdout.strip().splitlines()[-1])
    assert [final[k]["replicas"] for k in ("1", "2")] == [1, 2]
    assert final["1"]["loss_sum"] == pytest.approx(final["2"]["loss_sum"], rel=1e-5)
    for one, two in zip(final["1"]["weights"], final["2"]["weights"]):
        np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
    assert np.abs(np.array(final["1"]["weights"][1])).sum() > 0  # the bias moved from 0
