"""Two replicas against one, in a fresh process: 2 logical CPU devices must be set up
before TensorFlow runs any op, which a test process has long done. A script gets the
preamble below (the devices, 3 steps of a global batch of 8 as `xs`, `ys`, and
`dense_model(replicas)`: a strategy and a small model with its SGD optimizer, the same
initial weights each time); its loop `for replicas in (2, 1)` (collectives must be set
up before TF runs any op) fills `final[replicas]` with {"weights", "loss_sum",
"replicas"}, which `compare` checks."""

import json
import subprocess
import sys

import numpy as np
import pytest

PREAMBLE = """
import json, os, sys
os.environ.pop("TF_CONFIG", None)  # one local worker: an inherited cluster spec would wait for peers
import numpy as np
from lib.train.strategy import configure_devices, make_strategy
configure_devices(2)
import keras, tensorflow as tf
from lib.train.strategy import distribute_batch

rng = np.random.default_rng(0)
xs = rng.normal(size=(3, 8, 6)).astype(np.float32)   # 3 steps of a global batch of 8
ys = (np.arange(24).reshape(3, 8) % 4).astype(np.int32)
final = {}


def dense_model(replicas):
    strategy = make_strategy(replicas, 60) if replicas > 1 else tf.distribute.get_strategy()
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        optimizer = keras.optimizers.SGD(0.5)  # SGD keeps the gradient's scale (Adam would not)
        optimizer.build(model.trainable_variables)
    return strategy, model, optimizer
"""


def compare(loop: str) -> None:
    """Run PREAMBLE + `loop` and check 2 replicas stepped exactly as 1 on the whole batch:
    the same loss sum and weights, and the weights moved."""
    from tests.conftest import REPO

    script = PREAMBLE + loop + "\njson.dump(final, sys.stdout)\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    final = json.loads(out.stdout.strip().splitlines()[-1])
    assert [final[k]["replicas"] for k in ("1", "2")] == [1, 2]
    assert final["1"]["loss_sum"] == pytest.approx(final["2"]["loss_sum"], rel=1e-5)
    for one, two in zip(final["1"]["weights"], final["2"]["weights"]):
        np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
    assert np.abs(np.array(final["1"]["weights"][1])).sum() > 0  # the bias moved from 0
