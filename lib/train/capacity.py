"""Can the cluster ever place this run's workers? Asked before any work.

Ray Train waits for a worker group's resources without limit (and retries start-up every
60 s), which is right while other jobs hold them and wrong when no node could ever host
a worker: a GPU asked of a CPU cluster waits forever. So the driver compares each
worker's request with every alive node's total resources, and fails at once when no
placement exists, unless the cluster can add nodes (then it waits, bounded). Also the
arithmetic of a run's resources: replicas per worker, CPUs held, rows enough for a batch.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from lib.errors import DataError, RaydaptError


class Unavailable(RaydaptError):
    """The cluster cannot run the request: exit 69 (EX_UNAVAILABLE)."""

    exit_code = 69


def request(scaling) -> dict[str, float]:
    """One worker's resources, as lib/train/fitting.fit asks Ray Train for them."""
    need = {"CPU": float(scaling.cpus_per_worker)}
    if scaling.gpus_per_worker:
        need["GPU"] = float(scaling.gpus_per_worker)
    return need


def placeable(nodes: list[dict[str, float]], need: dict[str, float]) -> int:
    """How many workers of `need` the nodes' totals hold (a worker lives on one node)."""
    return sum(int(min(node.get(name, 0.0) / amount for name, amount in need.items()))
               for node in nodes)


def describe(nodes: list[dict[str, float]]) -> str:
    if not nodes:
        return "no alive node"
    cpus = sum(n.get("CPU", 0.0) for n in nodes)
    gpus = sum(n.get("GPU", 0.0) for n in nodes)
    largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)))
    return (f"{len(nodes)} node(s), {cpus:g} CPU(s) and {gpus:g} GPU(s) in all, the largest "
            f"{largest.get('CPU', 0.0):g} CPU(s) and {largest.get('GPU', 0.0):g} GPU(s)")


def shortfall(scaling, nodes: list[dict[str, float]]) -> str | None:
    """None when the workers fit; else one line naming the request and what there is."""
    need = request(scaling)
    if placeable(nodes, need) >= scaling.workers:
        return None
    each = " and ".join(f"{amount:g} {name}(s)" for name, amount in need.items())
    return (f"{scaling.workers} worker(s) of {each} each cannot be placed: the cluster has "
            f"{describe(nodes)}")


def oversubscribed(scaling, cores: int) -> str | None:
    """A local Ray is sized to the request, so asking more CPUs than the machine has
    starts; the workers then share the cores (slower, not wrong): worth one warning."""
    asked = scaling.workers * scaling.cpus_per_worker
    if asked <= cores:
        return None
    return (f"{scaling.workers} worker(s) x {scaling.cpus_per_worker} CPU(s) = {asked} CPUs "
            f"asked of this machine's {cores} cores: they will share them")


def alive_nodes() -> list[dict[str, float]]:
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n["Alive"]]


def can_grow() -> bool:
    """Whether nodes may be added. Open-source Ray has no public answer: a platform that
    reports its autoscaling config says so (Ray Train and Ray Data read the same private
    call); the cluster launcher and KubeRay label their nodes with a node group. A plain
    `ray start` cluster has neither and does not grow."""
    from ray._private.state import state  # private: tests/train/test_capacity.py guards it

    if state.get_cluster_config() is not None:
        return True
    import ray

    return any("ray.io/node-group" in (n.get("Labels") or {}) for n in ray.nodes() if n["Alive"])


def check_capacity(scaling, wait_s: float, poll_s: float = 5.0) -> None:
    """Return once the workers can be placed; raise Unavailable when they cannot and the
    cluster cannot grow, or still cannot after `wait_s` seconds of a growing one."""
    missing = shortfall(scaling, alive_nodes())
    if missing is None:
        return
    if not can_grow():
        raise Unavailable(missing)
    from ray.autoscaler.sdk import request_resources

    # An autoscaler adds nodes for pending demand; nothing is pending until Ray Train asks,
    # so ask for the same bundles here, and withdraw the request whatever happens.
    request_resources(bundles=[request(scaling)] * scaling.workers)
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            time.sleep(poll_s)
            missing = shortfall(scaling, alive_nodes())
            if missing is None:
                return
    finally:
        request_resources(bundles=[])
    raise Unavailable(f"{missing}, after waiting {wait_s:g} s for the autoscaler "
                      f"(--resource-wait-s)")


def local_replicas(scaling) -> int:
    return scaling.gpus_per_worker or scaling.cpu_replicas_per_worker


def check_enough_rows(num_rows: int, scaling, batch_size: int, what: str) -> None:
    """Every worker needs at least one full batch, or training would do nothing."""
    per_worker = num_rows // scaling.workers
    local_batch = batch_size * local_replicas(scaling)
    if per_worker < local_batch:
        raise DataError(f"{what}: {num_rows} rows give each of {scaling.workers} worker(s) "
                        f"{per_worker}, fewer than one batch of {local_batch}")


def run_cpus(scaling) -> int:
    """The CPUs a run holds: its workers' (--cpus-per-worker filled in), and one for its
    Ray Data tasks beside them."""
    return scaling.workers * scaling.cpus_per_worker + 1


def with_cpus(scaling):
    """Fill the default --cpus-per-worker: this machine's cores shared by the workers."""
    if scaling.cpus_per_worker is not None:
        return scaling
    return replace(scaling, cpus_per_worker=max(1, (os.cpu_count() or 1) // scaling.workers))
