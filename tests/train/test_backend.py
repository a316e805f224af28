"""The backend that makes Ray Train workers a TensorFlow cluster: the spec it writes is
the one MultiWorkerMirroredStrategy reads, and neither the driver nor Ray Train's
controller (which unpickles the backend config) has to import TensorFlow for it. That
the workers do form one cluster is tests/train/test_distributed.py's business."""

import json
import os
import subprocess
import sys

from lib.train.backend import _set_tf_config
from tests.conftest import REPO


def test_each_worker_gets_the_cluster_and_its_own_index(monkeypatch):
    # Set through monkeypatch first, so the value the backend writes is undone afterwards:
    # a TF_CONFIG left behind makes every later strategy in this process wait for peers.
    monkeypatch.setenv("TF_CONFIG", "{}")
    _set_tf_config(["10.0.0.1:7001", "10.0.0.2:7002"], 1)
    assert json.loads(os.environ["TF_CONFIG"]) == {
        "cluster": {"worker": ["10.0.0.1:7001", "10.0.0.2:7002"]},
        "task": {"type": "worker", "index": 1}}


def test_trainer_and_backend_config_load_without_tensorflow():
    code = """
import pickle, sys
from ray.train import ScalingConfig
from lib.train.backend import TFConfigBackendConfig, tensorflow_trainer
config = pickle.loads(pickle.dumps(TFConfigBackendConfig()))  # what the controller does
tensorflow_trainer(lambda: None, scaling_config=ScalingConfig(num_workers=2))
print(config.backend_cls.__name__, config.framework.value)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:2] == ["_TFConfigBackend tensorflow", "[]"]
