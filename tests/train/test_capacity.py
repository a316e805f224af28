"""A run the cluster can never place fails at once (exit 69), naming what is missing and
what the cluster has; a local machine asked for more CPUs than it has gets a warning."""

import pytest

from lib.config import ScalingOptions
from lib.train.capacity import (
    Unavailable,
    can_grow,
    check_capacity,
    oversubscribed,
    placeable,
    shortfall,
)
from tests.jobs.test_finetune_cli import finetune, listing
from tests.jobs.test_prepare_cli import assert_fails

CPU_NODE, GPU_NODE = {"CPU": 8.0, "memory": 1e10}, {"CPU": 4.0, "GPU": 2.0}


def test_a_worker_lives_on_one_node():
    # 12 CPUs in all, yet only two 5-CPU workers fit: one per node at most.
    assert placeable([CPU_NODE, GPU_NODE], {"CPU": 5.0}) == 1
    assert placeable([CPU_NODE, GPU_NODE], {"CPU": 4.0}) == 3
    assert placeable([CPU_NODE, GPU_NODE], {"CPU": 2.0, "GPU": 1.0}) == 2
    assert placeable([CPU_NODE], {"CPU": 1.0, "GPU": 1.0}) == 0


def test_the_shortfall_names_the_request_and_the_cluster():
    fits = ScalingOptions(workers=3, cpus_per_worker=4)
    assert shortfall(fits, [CPU_NODE, GPU_NODE]) is None
    gpus = ScalingOptions(workers=3, cpus_per_worker=2, gpus_per_worker=1)
    assert shortfall(gpus, [CPU_NODE, GPU_NODE]) == (
        "3 worker(s) of 2 CPU(s) and 1 GPU(s) each cannot be placed: the cluster has 2 node(s), "
        "12 CPU(s) and 2 GPU(s) in all, the largest 4 CPU(s) and 2 GPU(s)")


def test_oversubscribing_a_local_machine_is_a_warning():
    assert oversubscribed(ScalingOptions(workers=2, cpus_per_worker=1), cores=2) is None
    assert oversubscribed(ScalingOptions(workers=8, cpus_per_worker=4), cores=2) == (
        "8 worker(s) x 4 CPU(s) = 32 CPUs asked of this machine's 2 cores: they will share them")


def test_a_plain_local_cluster_cannot_grow_and_fails_at_once(ray_local):
    # can_grow reads a private Ray call (ray._private.state.state.get_cluster_config):
    # if it moves, this fails here instead of every autoscaling cluster failing at once.
    from ray._private.state import state

    assert state.get_cluster_config() is None
    assert can_grow() is False
    check_capacity(ScalingOptions(workers=2, cpus_per_worker=2), wait_s=0)
    with pytest.raises(Unavailable, match="1 GPU"):
        check_capacity(ScalingOptions(workers=1, cpus_per_worker=1, gpus_per_worker=1),
                       wait_s=3600)  # not waited: nothing could add a GPU


def test_a_gpu_asked_of_a_cpu_machine_exits_69_leaving_nothing(tmp_path, small_folder):
    (tmp_path / "runs").mkdir()
    before = listing(tmp_path / "runs")
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--val",
                      f"folder:{small_folder}", "--gpus-per-worker", "1", "--run-name", "gpu")
    assert_fails(result, 69, "1 worker(s) of", "1 GPU(s) each cannot be placed",
                 "0 GPU(s) in all")
    assert listing(tmp_path / "runs") == before and not (tmp_path / "runs" / "gpu").exists()
