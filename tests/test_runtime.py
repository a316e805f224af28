"""A local Ray beside another Ray cluster on the same machine: a run asks its own
cluster, not "the latest" one, about its own actors (lib/runtime.pin_address)."""

import json
import subprocess
import sys

import pytest

from tests.cluster.head import tiny_adapt
from tests.conftest import REPO

# Another cluster with a dashboard, as `ray start --head` makes (ray.cluster_utils writes
# /tmp/ray/ray_current_cluster as `ray start` does), then a run on a local Ray of its own.
# Without the pin, Ray Train's placement-group cleaner looked its controller up in the
# other cluster, found none and removed the run's placement group: the run failed within
# seconds.
BESIDE = """
import json, os, subprocess, sys
from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={
    "num_cpus": 1, "include_dashboard": True, "dashboard_port": 8394})
try:
    from ray.util.state import list_nodes

    assert list_nodes(address=cluster.address)  # its state API answers, as the cleaner's would
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = subprocess.run([sys.executable, "-m", "jobs.adapt", *sys.argv[1:]], env=env,
                         capture_output=True, text=True, timeout=600)
    print(json.dumps({"returncode": run.returncode, "stderr": run.stderr[-3000:]}))
finally:
    cluster.shutdown()
"""


@pytest.mark.slow
def test_a_local_run_beside_another_ray_cluster_completes(cifar_jpeg, tmp_path):
    # No restarts allowed: Ray Train would otherwise restart the workers the removal killed
    # (the cleaner acts once), and the run would complete all the same.
    args = [str(a) for a in tiny_adapt(cifar_jpeg, tmp_path, "beside", epochs=40, workers=1)]
    args += ["--max-failures", "0"]
    out = subprocess.run([sys.executable, "-c", BESIDE, *args], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["returncode"] == 0, result["stderr"]


def test_the_cluster_is_the_address_given_else_ray_address_else_none(monkeypatch):
    from lib.runtime import cluster_address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert cluster_address(None) is None  # a local instance
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # what `ray job submit` sets
    assert cluster_address(None) == "10.0.0.1:6379"
    assert cluster_address("ray://head:10001") == "ray://head:10001"
    monkeypatch.setenv("RAY_ADDRESS", "")
    assert cluster_address(None) is None
