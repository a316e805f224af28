"""The distribution strategy inside each Ray Train worker.

MultiWorkerMirroredStrategy mirrors over all GPUs a worker sees, but over exactly one
CPU device. To run N workers x M replicas without GPUs (tests, laptops), a worker
splits its CPU into M logical devices and the strategy is told to use them: the one
place we reach into TF internals, and only when `cpu_devices > 1`.
"""

from __future__ import annotations

import contextlib
import json
import os


def configure_devices(cpu_devices: int, threads: int | None = None) -> None:
    """Must run before TF initialises its devices (before any op). `threads` caps TF's op
    thread pool at the CPUs Ray reserved for this worker: two workers on two cores would
    otherwise each start a pool per core and fight over them."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)


@contextlib.contextmanager
def _local_cpu_devices(count: int):
    from tensorflow.python.distribute import collective_all_reduce_strategy as cars

    extended = cars.CollectiveAllReduceExtended
    original = extended._initialize_local_devices

    def cpu_devices(self, cluster_resolver, worker_device):
        return tuple(f"{worker_device}/device:CPU:{i}" for i in range(count)), "CPU"

    extended._initialize_local_devices = cpu_devices
    try:
        yield
    finally:
        extended._initialize_local_devices = original


def keep_single_host_on_loopback() -> None:
    """Ray Train fills TF_CONFIG with the host's interface address. When every worker is on
    one host, TF's gRPC traffic can stay on loopback: nothing leaves the machine."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    workers = config.get("cluster", {}).get("worker", [])
    hosts = {address.rsplit(":", 1)[0] for address in workers}
    if len(hosts) == 1:
        config["cluster"]["worker"] = [f"127.0.0.1:{a.rsplit(':', 1)[1]}" for a in workers]
        os.environ["TF_CONFIG"] = json.dumps(config)


def make_strategy(cpu_devices: int, collective_timeout_s: float):
    """MWMS over TF_CONFIG (set by lib/train/backend.py). The timeout bounds every
    collective, so a hung or stopped peer fails the group instead of blocking it forever."""
    import tensorflow as tf

    keep_single_host_on_loopback()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout_s)
    uses_gpus = bool(tf.config.list_physical_devices("GPU"))
    scope = _local_cpu_devices(cpu_devices) if cpu_devices > 1 and not uses_gpus \
        else contextlib.nullcontext()
    with scope:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def distribute_batch(strategy, arrays, local_replicas: int, axis: int = 0):
    """Split a worker's local batch evenly over its local replicas (PerReplica values),
    along `axis`: 1 for batches stacked as (steps, batch, ...)."""
    import tensorflow as tf

    size = arrays[0].shape[axis] // local_replicas

    def piece(ctx):
        i = ctx.replica_id_in_sync_group % local_replicas
        part = (slice(None),) * axis + (slice(i * size, (i + 1) * size),)
        return tuple(tf.constant(a[part]) for a in arrays)

    return strategy.experimental_distribute_values_from_function(piece)
