"""Fitting under Ray Train: a worker loop run by Ray Train's TensorFlow trainer, its
settings, and its failures turned into one line."""

from __future__ import annotations

import errno
import os
import re
import time

from lib.errors import OutputError, RaydaptError
from lib.train.rundir import os_reason


class TrainingFailed(RaydaptError):
    """Training itself failed (after Ray Train's retries): exit 1 with Ray's reason."""

    exit_code = 1


# Ray Train V2's own settings we set (tests/train/test_record.py checks that Ray Train
# still reads and propagates each of them: ray.train.v2._internal.constants).
RAY_TRAIN_POLL_INTERVAL = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
POLL_INTERVAL_S = 0.2
RAY_TRAIN_TIMEOUTS = ("RAY_TRAIN_COLLECTIVE_TIMEOUT_S", "RAY_TRAIN_WORKER_HEALTH_CHECK_TIMEOUT_S")


def fit(worker_fn, loop_config: dict, datasets: dict, split: list[str], scaling, run_name: str,
        storage: str, failure=None, phases=None, keep: tuple[str, str] | None = None):
    """Run a worker loop under Ray Train (lib/train/backend.py); a run with the same
    (storage, name) resumes from its latest checkpoint (Ray Train V2's restoration).
    `datasets`: Ray Datasets by name (none when the workers read cached features
    themselves), those named in `split` split across the workers.
    `keep`: (reported metric, "max" or "min") the checkpoints kept are the best by, besides
    the latest (Ray Train always keeps that one); None: the latest ones.
    Without `failure` (benchmarks) Ray Train's defaults apply: no retries, no checkpoints
    kept."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig

    from lib.data.feed import train_data_config
    from lib.phases import take_worker_phases
    from lib.train.backend import tensorflow_trainer
    from lib.train.capacity import request
    from lib.train.divergence import take_reason

    # Ray Train's controller takes a worker's report off its one-slot queue when it polls,
    # every 2 s by default: a worker reporting each 0.5-second epoch waited most of every
    # epoch for it (12 of a small run's 36 s here). Polled often, it waits milliseconds.
    # Set in the driver, Ray Train passes these to the controller and the workers.
    os.environ.setdefault(RAY_TRAIN_POLL_INTERVAL, str(POLL_INTERVAL_S))
    if failure is not None:
        # TF's collectives time out on their own (the strategy's CommunicationOptions), but
        # Ray Train's barriers (report) and its health checks of a stopped worker wait 10
        # minutes or forever by default: a hung worker must fail the group in the same
        # bounded time.
        for name in RAY_TRAIN_TIMEOUTS:
            os.environ.setdefault(name, str(failure.collective_timeout_s))
    trainer = tensorflow_trainer(
        worker_fn,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=scaling.workers,
                                     use_gpu=bool(scaling.gpus_per_worker),
                                     resources_per_worker=request(scaling)),
        datasets=datasets,
        dataset_config=train_data_config(tuple(name for name in split if name in datasets)),
        run_config=RunConfig(
            name=run_name, storage_path=storage,
            failure_config=FailureConfig(max_failures=failure.max_failures) if failure else None,
            checkpoint_config=CheckpointConfig(
                num_to_keep=failure.checkpoints_to_keep,
                checkpoint_score_attribute=keep[0] if keep else None,
                checkpoint_score_order=keep[1] if keep else "max") if failure else None,
            worker_runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}},
        ),
    )
    started = time.perf_counter()
    try:
        result = trainer.fit()
    except Exception as e:  # Ray wraps the worker's error: the CLI prints this one line
        cause, where = first_failure(e)
        if isinstance(cause, OSError) and os_reason(cause) in _STORAGE_FULL_OR_READ_ONLY:
            # Not worth a retry, and the user's to fix: say it is the storage.
            raise OutputError(f"--storage {storage}: {os_reason(cause)}{where}") from e
        raise TrainingFailed(f"training failed: {root_cause(e)}"[:2000]) from e
    if keep and failure is not None and result.metrics and keep[0] not in result.metrics:
        # Ray Train would only log it and keep the latest: the model's epoch would be lost.
        raise RuntimeError(f"checkpoints are kept by {keep[0]!r}, which the workers do not "
                           f"report (they report {', '.join(sorted(result.metrics))})")
    if phases is not None:
        phases.fold_in_workers(time.perf_counter() - started, take_worker_phases(storage, run_name))
    reason = take_reason(storage, run_name)  # lib/train/divergence.py: not retried
    if reason is not None:
        raise TrainingFailed(f"training failed: {reason}"[:2000])
    return result


_STORAGE_FULL_OR_READ_ONLY = {os.strerror(errno.ENOSPC), os.strerror(errno.EROFS),
                              os.strerror(errno.EDQUOT)}


def first_failure(error: BaseException) -> tuple[BaseException, str]:
    """The first failing worker's own exception (Ray's WorkerGroupError carries them by
    rank) and " (worker rank N)", or the error itself and ""."""
    failures = getattr(error, "worker_failures", None) or {}
    where = ""
    if failures:
        rank = min(failures)
        error, where = failures[rank], f" (worker rank {rank})"
    cause = getattr(error, "cause", None)  # RayTaskError-like wrappers keep the original
    return (cause if isinstance(cause, BaseException) else error), where


# TensorFlow's graph errors carry the Python stack that built the failing op, and its
# graph location: both are noise on a one-line error, the op's name is enough.
_TF_STACK = re.compile(r'Detected at node (\S+) defined at \(most recent call last\):'
                       r'(?: File "[^"]*", line \d+, in \S+)+ ')
_TF_GRAPH_LOCATION = re.compile(r" \[\[\{\{node [^}]*\}\}\]\] \[Op:[^\]]*\]")


def root_cause(error: Exception) -> str:
    """One line for a failed fit, not Ray's multi-line wrapper and traceback."""
    cause, where = first_failure(error)
    text = " ".join(str(cause).split())
    text = _TF_GRAPH_LOCATION.sub("", _TF_STACK.sub(r"at node \1: ", text))
    return f"{type(cause).__name__}: {text}{where}"
