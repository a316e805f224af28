"""A run's directory under its storage: its name, the storage's checks, --resume and
--init-from, the saved config, and the identity every row of the run starts with."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, replace

import pyarrow.fs as pafs

from lib.data.layout import filesystem_for, read_json
from lib.errors import NoInputError, OutputError


def resolve_storage(storage: str) -> str:
    return storage if "://" in storage else os.path.abspath(storage)


def new_run_name(job: str) -> str:
    return f"{job}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class RunIdentity:
    """Which run a row belongs to: every metrics row starts with `row()`."""

    storage: str
    run: str
    job: str
    method: str
    reads_target_labels: bool      # true only for oracle runs: never a real result
    config_hash: str
    workers: int
    replicas: int

    def row(self) -> dict:
        return {"run": self.run, "job": self.job, "method": self.method,
                "reads_target_labels": self.reads_target_labels,
                "config_hash": self.config_hash, "workers": self.workers,
                "replicas": self.replicas}


def identify(config, job: str, method: str, reads_target_labels: bool) -> RunIdentity:
    """The run's identity, which starts every row it writes."""
    from lib.config import config_hash
    from lib.train.capacity import local_replicas

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
    fs, root = filesystem_for(storage)
    try:
        fs.create_dir(f"{root}/{run}", recursive=True)
        with fs.open_output_stream(f"{root}/{run}/config.json") as f:
            f.write(json.dumps(asdict(config), indent=2).encode())
    except OSError as e:
        raise OutputError(f"--storage {storage}: cannot write the run there "
                          f"({os_reason(e)})") from None


def storage_exists(storage: str) -> bool:
    fs, root = filesystem_for(storage)
    return fs.get_file_info(root).type != pafs.FileType.NotFound


def forget_run(storage: str, run: str, with_storage: bool = False) -> None:
    """Remove a new run's directory (its config and log so far), and with `with_storage`
    the storage directory too if nothing else is in it (the run created it; another run
    may have written there since)."""
    fs, root = filesystem_for(storage)
    fs.delete_dir(f"{root}/{run}")
    if with_storage and not fs.get_file_info(pafs.FileSelector(root)):
        fs.delete_dir(root)


def os_reason(error: OSError) -> str:
    """The system's reason (e.g. "Read-only file system"); pyarrow's filesystems carry
    the errno only inside their message."""
    code = error.errno or next(iter(re.findall(r"\[errno (\d+)\]", str(error))), None)
    return os.strerror(int(code)) if code else str(error).splitlines()[0]


def read_config(location: str):
    """A run directory's config.json, typed (AdaptConfig or FinetuneConfig, by its groups):
    the one reader of a saved config, for --resume, export, evaluate and predict. None
    when the directory has none."""
    from lib.config import AdaptConfig, FinetuneConfig, config_from_dict

    fs, root = filesystem_for(location)
    path = f"{root.rstrip('/')}/config.json"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    saved = read_json(fs, path, required=("run", "optim", "model"))
    return config_from_dict(AdaptConfig if "adapt" in saved else FinetuneConfig, saved)


def check_new_run(storage: str, run: str) -> None:
    """A run directory belongs to one run: a second one there would take the first one's
    checkpoint (Ray Train restores by name) and mix its epochs into the tables."""
    fs, root = filesystem_for(storage)
    if fs.get_file_info(f"{root}/{run}").type != pafs.FileType.NotFound:
        raise OutputError(f"run {run!r} already exists under {storage}: continue it with "
                          f"--resume {run}, or pick another --run-name")


def resolve_run(config, job: str):
    """Apply --resume (the saved config of that run, same job) and name the run."""
    from lib.errors import UsageError
    from lib.train.capacity import with_cpus

    storage = resolve_storage(config.run.storage)
    if config.run.resume:
        location = f"{storage.rstrip('/')}/{config.run.resume}"
        saved = read_config(location)
        if saved is None:
            raise NoInputError(f"no run {config.run.resume!r} to resume under {storage} "
                               f"({location}/config.json not found)")
        if type(saved) is not type(config):
            raise UsageError(f"--resume {config.run.resume}: that run is not a {job} run")
        return replace(saved, run=replace(config.run, storage=storage,
                                          run_name=config.run.resume, resume=config.run.resume))
    run = config.run.run_name or new_run_name(job)
    check_new_run(storage, run)
    return replace(config, scaling=with_cpus(config.scaling), run=replace(
        config.run, storage=storage, run_name=run))
