"""The cluster spec MultiWorkerMirroredStrategy reads (TF_CONFIG), set on each Ray Train
worker by a backend that does not import TensorFlow.

Ray's own TensorflowConfig does the same, but its package imports TensorFlow on import,
so every process that unpickles it pays for it: the driver and Ray Train's controller,
which never train. Measured here (2 cores): 5 s and 633 MiB resident per import, twice
per run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ray.train.backend import Backend, BackendConfig


def _set_tf_config(worker_addresses: list[str], index: int) -> None:
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": worker_addresses},
                                          "task": {"type": "worker", "index": index}})


class _TFConfigBackend(Backend):
    def on_start(self, worker_group, backend_config) -> None:
        import ray
        from ray._common.network_utils import build_address
        from ray.train._internal.utils import get_address_and_port

        addresses = worker_group.execute(lambda: build_address(*get_address_and_port()))
        ray.get([worker_group.execute_single_async(i, _set_tf_config,
                                                   worker_addresses=addresses, index=i)
                 for i in range(len(worker_group))])


@dataclass
class TFConfigBackendConfig(BackendConfig):
    @property
    def backend_cls(self):
        return _TFConfigBackend

    @property
    def framework(self):
        from ray.train.v2._internal.util import TrainingFramework

        return TrainingFramework.TENSORFLOW  # Ray records the workers' TF and Keras versions


def tensorflow_trainer(worker_fn, **trainer_options):
    """Ray Train's TensorflowTrainer, less its TensorFlow import: a DataParallelTrainer
    whose workers get TF_CONFIG from the backend above."""
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    return DataParallelTrainer(worker_fn, backend_config=TFConfigBackendConfig(),
                               **trainer_options)
