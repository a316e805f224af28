"""One training session from the driver's side, the same for every job that trains
(finetune, adapt): name or resume the run, preflight, save the config, open the console
and Ray, check resources and input, load what the workers read, run the one worker loop
(lib/train/worker.py) under Ray Train, and record how it ended.

What differs between jobs comes in a `Setup` from the job's own preflight: its inputs,
its header line, and its `learner` (what the workers build: lib/finetune.Classifier,
lib/adapt/session.MethodLearner), which also makes rank 0's judge.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from lib.phases import Phases
from lib.train.capacity import local_replicas
from lib.train.rundir import (
    RunIdentity,
    forget_run,
    identify,
    init_from_checkpoint,
    resolve_run,
    save_config,
    storage_exists,
)


@dataclass(frozen=True)
class Plan:
    """What a run's workers get: the job's config as the user set it (after --resume and
    defaults), the job's learner, and what the driver derived from the config and data."""

    config: object                  # the job's config (lib/config.py)
    learner: object                 # (plan, strategy, local replicas) -> the learner
    identity: RunIdentity
    image_shape: tuple[int, int, int]
    feature_shape: tuple[int, ...] | None  # set: inputs are cached frozen-block outputs
    init_from: str | None           # a checkpoint path to take weights (not optimizer) from
    steps_per_epoch: int            # equal on every worker: collectives must match
    class_names: tuple[str, ...]
    eval_splits: tuple[tuple[str, str], ...]  # (name the workers read it by, what it is)
    live_progress: bool = False     # the driver's console is a terminal: rank 0 reports steps
    # With cached features: what the workers read themselves, by dataset name (no Ray
    # Data then: lib/train/features.FeatureFiles).
    features: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Setup:
    """What a job's preflight hands the session."""

    learner: object
    method: str                     # the runs' `method` column
    reads_target_labels: bool
    header: str                     # the console's first line
    plans: dict                     # {dataset name: ImagePlan} the workers read
    domains: tuple[str, ...]        # the training datasets, split across the workers
    eval_splits: tuple[tuple[str, str], ...]
    cache: object                   # lib/train/inputs.FeatureCache or None
    load: Callable                  # () -> (read by name, image shape, feature shape)
    keep: tuple[str, str] | None    # the reported metric the kept checkpoints are best by
    finish: Callable | None = None  # (store, identity, phases): after training, in the record


def train_and_evaluate(config, job: str, preflight: Callable):
    """Run one training session: `preflight(config)` (the job's own checks, no Ray yet)
    returns the config as the run records it and the Setup. Returns (the run's metrics
    store, what `finish` returned)."""
    from lib.console import EpochFollower, epoch_summary
    from lib.train.fitting import fit
    from lib.train.inputs import preflight as check_images
    from lib.train.progress import read_progress
    from lib.train.worker import session_worker

    phases = Phases()
    config, setup = preflight(resolve_run(config, job))
    storage, run, scaling, optim = (config.run.storage, config.run.run_name, config.scaling,
                                    config.optim)
    init_from = init_from_checkpoint(storage, config.model.init_from) if config.model.init_from else None
    phases.add("preflight (listing, checks)", time.perf_counter() - phases.started)
    identity = identify(config, job, setup.method, setup.reads_target_labels)
    with driving(config, identity, setup.header, phases,
                 check=lambda: check_images(setup.plans, setup.cache)) as (console, store, log):
        with phases.timed("data for the workers (feature cache or images)"):
            read, shape, feature_shape = setup.load()
        # Ray Datasets go to Ray Train (split across the workers); cached features' files
        # into the plan (each worker reads its part).
        datasets, features = (read, {}) if feature_shape is None else ({}, read)
        rows = min(setup.plans[name].num_rows for name in setup.domains) // scaling.workers
        plan = Plan(config=config, learner=setup.learner, identity=identity,
                    image_shape=tuple(shape), feature_shape=feature_shape, init_from=init_from,
                    steps_per_epoch=rows // (optim.batch_size * local_replicas(scaling)),
                    class_names=tuple(setup.plans["source"].class_names),
                    eval_splits=setup.eval_splits, live_progress=console.live, features=features)
        with EpochFollower(console, store, optim.epochs, epoch_summary,
                           evaluates=bool(plan.eval_splits), log_path=log,
                           steps=lambda: read_progress(storage, run)):
            fit(session_worker, {"plan": plan}, datasets, list(setup.domains), scaling, run,
                storage, config.failure, phases, keep=setup.keep)
        return store, setup.finish(store, identity, phases) if setup.finish else None


@contextlib.contextmanager
def driving(config, identity, header: str, phases, check: Callable):
    """A run from the driver's side, after its preflight: the config saved, a clean
    console (Ray's and TensorFlow's output in the run's log file: lib/console.py) opened
    with `header`, Ray connected, the workers' resources checked (lib/train/capacity.py)
    and `check()` run (the input's checks that need Ray: lib/train/inputs.preflight),
    then the run record around the block, with `phases` (lib/phases.py) in it. Refused
    resources or bad input leave a new run no trace. Yields (console, store, log path)."""
    from lib.console import captured
    from lib.errors import DataError, NoInputError
    from lib.metrics.runs import RunRecord
    from lib.metrics.store import MetricsStore
    from lib.runtime import cluster_address, init_ray
    from lib.train.capacity import Unavailable, check_capacity, oversubscribed, run_cpus
    from lib.train.record import RunStopped, recorded

    storage, run, scaling = config.run.storage, config.run.run_name, config.scaling
    fresh_storage = not storage_exists(storage)
    save_config(storage, run, config)
    store = MetricsStore(storage, run)
    # The wall clock started with the job (preflight included), as its phases did.
    record = RunRecord(store, identity.row(), asdict(config), phases=phases.seconds,
                       _clock=phases.started)
    refused = False  # before the run record: resources or input said no, or a Ctrl-C came
    try:
        with captured(f"{storage}/{run}/logs", config.run.verbose) as (console, log):
            console.line(header)
            each = f"{scaling.gpus_per_worker} GPU(s)" if scaling.gpus_per_worker else \
                f"{scaling.cpus_per_worker} CPU(s) as {scaling.cpu_replicas_per_worker} replica(s)"
            console.line(f"  {scaling.workers} worker(s), each {each}; run in {storage}/{run}; "
                         f"Ray's and TensorFlow's output in {log}")
            local = cluster_address(config.run.address) is None
            crowded = oversubscribed(scaling, os.cpu_count() or 1) if local else None
            if crowded:
                console.warning(crowded)
            with phases.timed("Ray start or connect"):
                connected = init_ray(config.run.address, local_cpus=run_cpus(scaling))
            stopped = False
            try:
                try:
                    with phases.timed("Ray start or connect"):
                        check_capacity(scaling, config.failure.resource_wait_s)
                    with phases.timed("decoding and checks (Ray Data)"):
                        check()
                except (Unavailable, DataError, NoInputError, KeyboardInterrupt):
                    refused = True
                    raise
                with recorded(record, store):
                    yield console, store, log
            except RunStopped:
                stopped = True  # Ray's SIGKILL follows SIGTERM in 3 s: no time to shut down
                raise
            finally:
                if connected and not stopped:
                    import ray

                    # Inside the capture, so what Ray still flushes (its deduplicated worker
                    # lines) goes to the log, not after the summary.
                    ray.shutdown()
    except BaseException:
        if refused and not config.run.resume:  # refused before any work: leave no trace
            forget_run(storage, run, with_storage=fresh_storage)
        raise
