"""Driver side of a training run: Ray, Ray Train's trainer, and the run record."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import signal
import sys
import threading
import time
from dataclasses import asdict, replace

from lib.errors import DataError, NoInputError, OutputError, RaydaptError


class TrainingFailed(RaydaptError):
    """Training itself failed (after Ray Train's retries): exit 1 with Ray's reason."""

    exit_code = 1


class RunStopped(RaydaptError):
    """SIGTERM (what `ray job stop` sends): the run is recorded as stopped, resumable."""

    exit_code = 143  # 128 + SIGTERM, as a shell reports a process ended by it


def resolve_storage(storage: str) -> str:
    return storage if "://" in storage else os.path.abspath(storage)


def new_run_name(job: str) -> str:
    return f"{job}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"


def identify(config, job: str, method: str, reads_target_labels: bool):
    """The run's identity, which starts every row it writes (lib/train/loop.RunIdentity)."""
    from lib.config import config_hash
    from lib.train.loop import RunIdentity

    scaling = config.scaling
    return RunIdentity(config.run.storage, config.run.run_name, job, method, reads_target_labels,
                       config_hash(config), scaling.workers,
                       scaling.workers * local_replicas(scaling))


def init_from_checkpoint(storage: str, run: str) -> str:
    """The path of --init-from's checkpoint (that run's latest), checked in the driver: a
    checkpoint the workers could not take weights from fails here, before Ray starts."""
    from lib.train.checkpoint import latest_in_run, weight_names

    found = latest_in_run(f"{storage}/{run}")
    if found is None:
        raise NoInputError(f"--init-from {run}: no checkpoint under {storage}")
    weight_names(found)
    return found.path


def save_config(storage: str, run: str, config) -> None:
    """The run's first write, before Ray starts: storage that is read-only, full or not
    ours fails here, once, instead of in every worker after training began."""
    from lib.data.layout import filesystem_for

    fs, root = filesystem_for(storage)
    try:
        fs.create_dir(f"{root}/{run}", recursive=True)
        with fs.open_output_stream(f"{root}/{run}/config.json") as f:
            f.write(json.dumps(asdict(config), indent=2).encode())
    except OSError as e:
        raise OutputError(f"--storage {storage}: cannot write the run there "
                          f"({os_reason(e)})") from None


def storage_exists(storage: str) -> bool:
    import pyarrow.fs as pafs

    from lib.data.layout import filesystem_for

    fs, root = filesystem_for(storage)
    return fs.get_file_info(root).type != pafs.FileType.NotFound


def forget_run(storage: str, run: str, with_storage: bool = False) -> None:
    """Remove a new run's directory (its config and log so far), and with `with_storage`
    the storage directory too if nothing else is in it (the run created it; another run
    may have written there since)."""
    import pyarrow.fs as pafs

    from lib.data.layout import filesystem_for

    fs, root = filesystem_for(storage)
    fs.delete_dir(f"{root}/{run}")
    if with_storage and not fs.get_file_info(pafs.FileSelector(root)):
        fs.delete_dir(root)


def os_reason(error: OSError) -> str:
    """The system's reason (e.g. "Read-only file system"); pyarrow's filesystems carry
    the errno only inside their message."""
    import re

    code = error.errno or next(iter(re.findall(r"\[errno (\d+)\]", str(error))), None)
    return os.strerror(int(code)) if code else str(error).splitlines()[0]


def load_config(storage: str, run: str) -> dict:
    import pyarrow.fs as pafs

    from lib.data.layout import filesystem_for, read_json

    fs, root = filesystem_for(storage)
    path = f"{root}/{run}/config.json"
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise NoInputError(f"no run {run!r} to resume under {storage} ({path} not found)")
    return read_json(fs, path)


def check_new_run(storage: str, run: str) -> None:
    """A run directory belongs to one run: a second one there would take the first one's
    checkpoint (Ray Train restores by name) and mix its epochs into the tables."""
    import pyarrow.fs as pafs

    from lib.data.layout import filesystem_for

    fs, root = filesystem_for(storage)
    if fs.get_file_info(f"{root}/{run}").type != pafs.FileType.NotFound:
        raise OutputError(f"run {run!r} already exists under {storage}: continue it with "
                          f"--resume {run}, or pick another --run-name")


def resolve_run(config, job: str):
    """Apply --resume (the saved config of that run, same class) and name the run."""
    from lib.config import config_from_dict

    storage = resolve_storage(config.run.storage)
    if config.run.resume:
        saved = config_from_dict(type(config), load_config(storage, config.run.resume))
        return replace(saved, run=replace(config.run, storage=storage,
                                          run_name=config.run.resume, resume=config.run.resume))
    run = config.run.run_name or new_run_name(job)
    check_new_run(storage, run)
    return replace(config, scaling=with_cpus(config.scaling), run=replace(
        config.run, storage=storage, run_name=run))


def local_replicas(scaling) -> int:
    return scaling.gpus_per_worker or scaling.cpu_replicas_per_worker


def check_enough_rows(num_rows: int, scaling, batch_size: int, what: str) -> None:
    """Every worker needs at least one full batch, or training would do nothing."""
    per_worker = num_rows // scaling.workers
    local_batch = batch_size * local_replicas(scaling)
    if per_worker < local_batch:
        raise DataError(f"{what}: {num_rows} rows give each of {scaling.workers} worker(s) "
                        f"{per_worker}, fewer than one batch of {local_batch}")


@contextlib.contextmanager
def stop_on_sigterm(seen: list):
    """SIGTERM interrupts the driver like Ctrl-C instead of Ray's sys.exit, so the record
    can say "stopped". Raised as KeyboardInterrupt because Ray's blocking calls (fit waits
    in ray.get) let only that, or SystemExit, out of a signal handler. Ray sends SIGKILL
    3 s later (RAY_JOB_STOP_WAIT_TIME_S): one small file write fits, the stop's record,
    made with further signals ignored (lib/metrics/runs.uninterrupted)."""
    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        seen.append("SIGTERM")
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        # Only a process's main thread can take signals: a run driven from another thread
        # (a Ray Tune trial's) is stopped by whoever drives it.
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def driving(config, identity, header: list[str], phases, check=None):
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
    from lib.train.capacity import Unavailable, check_capacity, oversubscribed

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
            for text in header:
                console.line(text)
            each = f"{scaling.gpus_per_worker} GPU(s)" if scaling.gpus_per_worker else \
                f"{scaling.cpus_per_worker} CPU(s) as {scaling.cpu_replicas_per_worker} replica(s)"
            console.line(f"  {scaling.workers} worker(s), each {each}; run in {storage}/{run}; "
                         f"Ray's and TensorFlow's output in {log}")
            local = cluster_address(config.run.address) is None
            crowded = oversubscribed(scaling, os.cpu_count() or 1) if local else None
            if crowded:
                console.warning(crowded)
            with phases.timed("Ray start or connect"):
                connected = init_ray(config.run.address,
                                     local_cpus=run_cpus(scaling))
            stopped = False
            try:
                try:
                    with phases.timed("Ray start or connect"):
                        check_capacity(scaling, config.failure.resource_wait_s)
                    if check is not None:
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


@contextlib.contextmanager
def recorded(record, store):
    """The run record around training: running (with the cluster's resources), then
    completed, stopped (SIGTERM or Ctrl-C), or failed with the reason on any other error.
    Metrics files are written by rename, so a stop mid-write leaves only an ignored
    temp file."""
    import ray

    from lib.metrics.runs import uninterrupted

    record.resources = ray.cluster_resources()
    record.write("running")
    seen = []
    try:
        with stop_on_sigterm(seen):
            yield
    except KeyboardInterrupt as e:
        message = (f"stopped by {seen[0] if seen else 'an interrupt'}; continue with "
                   f"--resume {record.identity['run']}")
        _final_record(record, store, "stopped", message)
        raise RunStopped(message) from e
    except BaseException as e:
        _final_record(record, store, "failed", str(e)[:2000])
        raise
    with uninterrupted():
        record.write("completed", len(store.files("epochs")))


def _final_record(record, store, status: str, message: str) -> None:
    """Record how a run ended, unless the storage itself is what failed (full, gone): the
    error being raised says more than a second one about the record would. A run its
    sweep already recorded stopped keeps that record: its trial fails only because the
    sweep is tearing it down."""
    from lib.metrics.runs import uninterrupted

    try:
        with uninterrupted():
            rows = store.read("runs").to_pylist()
            if status == "failed" and rows and rows[0]["status"] == "stopped":
                return
            record.write(status, len(store.files("epochs")), message=message)
    except OSError as e:
        print(f"warning: could not record the run as {status} ({e})", file=sys.stderr)


def run_cpus(scaling) -> int:
    """The CPUs a run holds: its workers' (--cpus-per-worker filled in), and one for its
    Ray Data tasks beside them."""
    return scaling.workers * scaling.cpus_per_worker + 1


def with_cpus(scaling):
    """Fill the default --cpus-per-worker: this machine's cores shared by the workers."""
    if scaling.cpus_per_worker is not None:
        return scaling
    return replace(scaling, cpus_per_worker=max(1, (os.cpu_count() or 1) // scaling.workers))


# Ray Train V2's own settings we set (tests/train/test_launch.py checks that Ray Train
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
    resources = {"CPU": scaling.cpus_per_worker}
    if scaling.gpus_per_worker:
        resources["GPU"] = scaling.gpus_per_worker
    trainer = tensorflow_trainer(
        worker_fn,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=scaling.workers,
                                     use_gpu=bool(scaling.gpus_per_worker),
                                     resources_per_worker=resources),
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
