"""Connecting to Ray: --address or RAY_ADDRESS when given, else a local instance we start."""

from __future__ import annotations

import contextlib
import logging
import os


def cluster_address(address: str | None) -> str | None:
    """The Ray cluster to connect to: --address, else RAY_ADDRESS (set for us under `ray
    job submit`); None: none given, a local instance."""
    return address or os.environ.get("RAY_ADDRESS") or None


def init_ray(address: str | None = None, local_cpus: int | None = None) -> bool:
    """`local_cpus` sizes a local instance: training workers hold their CPUs for the whole
    run, and Ray Data needs a CPU of its own beside them, so it may exceed the cores.
    Returns whether this call connected (False: Ray was already up, e.g. in tests)."""
    import ray

    if ray.is_initialized():
        return False
    address = cluster_address(address)
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        cpus = max(os.cpu_count() or 1, local_cpus or 0)
        # Loopback: a local run talks to nothing beyond this machine (TF collectives use it too).
        ray.init(address="local", num_cpus=cpus, logging_level=logging.WARNING,
                 _node_ip_address="127.0.0.1",
                 runtime_env={"worker_process_setup_hook": "lib.runtime.pin_address"})
    return True


@contextlib.contextmanager
def ray_up(address: str | None = None, local_cpus: int | None = None):
    """Ray for the block (init_ray), shut down after it unless it was up before."""
    connected = init_ray(address, local_cpus)
    try:
        yield
    finally:
        if connected:
            import ray

            ray.shutdown()


def pin_address() -> None:
    """Run in every worker process of a local Ray (tasks and actors: Ray Train's, Tune's,
    Ray Data's) as it starts: RAY_ADDRESS names its own cluster. Without it Ray's state
    API, which Ray Train's PlacementGroupCleaner asks whether the run's controller is
    alive, takes "the latest cluster" on the machine (a `ray start` head, another run's
    Ray): there it finds no controller and removes the run's placement group, killing its
    workers (seen: a sweep's run failed 10 s in, when a test started a Ray cluster beside
    it). A cluster joined with --address is not pinned: its processes are its own."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address

