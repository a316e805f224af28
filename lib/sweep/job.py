"""`raydapt sweep SPEC`: every grid point of a spec (lib/sweep/spec.py) as one run, the
runs as Ray Tune trials (a trial calls the job's own function, Ray Train inside it), as
many at once as the cluster fits. Each run is written exactly as a single run is, under
the runs' --storage; running the same sweep again skips the completed runs and resumes
the others from their last checkpoint."""

from __future__ import annotations

import time
from dataclasses import replace

from lib.config import SweepConfig
from lib.errors import RaydaptError
from lib.sweep.spec import Point, load_spec
from lib.train.record import RunStopped


class SweepFailed(RaydaptError):
    """Some runs failed (the others finished): exit 1, naming them."""

    exit_code = 1


def _record(point: Point) -> dict:
    """The run's record (its `runs` row), {} before its first."""
    from lib.metrics.store import MetricsStore

    rows = MetricsStore(_storage(point), point.name).read("runs").to_pylist()
    return rows[0] if rows else {}


def _state(point: Point) -> str | None:
    """completed, another recorded status, "started" (a config, no record yet: stopped
    before its first record), or None for a run not started."""
    import pyarrow.fs as pafs

    from lib.data.layout import filesystem_for

    if record := _record(point):
        return record["status"]
    fs, root = filesystem_for(_storage(point))  # a URI storage too
    config = fs.get_file_info(f"{root}/{point.name}/config.json")
    return "started" if config.type == pafs.FileType.File else None


def _storage(point: Point) -> str:
    from lib.train.rundir import resolve_storage

    return resolve_storage(point.config.run.storage)


def _to_run(point: Point, state: str | None):
    """The config a trial runs: a new run, or --resume of one that did not complete. The
    default --cpus-per-worker is filled here, on the sweep's driver, as the sweep counts
    CPUs with it (a trial would fill it from its own node)."""
    from lib.train.capacity import with_cpus

    run = replace(point.config.run, storage=_storage(point))
    if state is not None:
        run = replace(run, run_name=None, resume=point.name)
    return replace(point.config, run=run, scaling=with_cpus(point.config.scaling))


def _trial(params: dict, job: str, configs: list, cwd: str) -> None:
    """One Tune trial: the job's own function on one point's config, in the directory
    the sweep started in (Tune moves a trial into its own: relative data paths would
    then point elsewhere)."""
    import os

    from ray import tune

    from lib.cli import lazy
    from lib.jobs_table import JOBS

    if os.path.isdir(cwd):
        os.chdir(cwd)
    config = configs[params["index"]]
    lazy(JOBS[job][1])(config)
    run = config.run.resume or config.run.run_name
    tune.report({"accuracy": accuracy_of(config.run.storage, run)})


def accuracy_of(storage: str, run: str) -> float | None:
    """The figure a sweep shows of a completed run: adapt, target-test accuracy at the
    source-validation epoch (the last without one); finetune, the last epoch's
    validation accuracy."""
    from lib.metrics.store import MetricsStore

    store = MetricsStore(storage, run)
    selection = {r["criterion"]: r for r in store.read("selection").to_pylist()}
    if selection:
        return (selection.get("source_val") or selection["last"])["target_test_accuracy"]
    evals = store.read("evals").to_pylist()
    return max(evals, key=lambda r: r["epoch"])["accuracy"] if evals else None


def sweep(config: SweepConfig) -> list[dict]:
    """Run the sweep; return a row per point (name, status, accuracy, seconds)."""
    spec = load_spec(config.spec)
    states = {p.name: _state(p) for p in spec.points}
    todo = [p for p in spec.points if states[p.name] != "completed"]
    if config.dry_run:
        width = max(len(p.name) for p in spec.points)
        for p in spec.points:
            what = {"completed": "done: skipped", None: "new"}.get(states[p.name],
                                                                   f"{states[p.name]}: resumed")
            print(f"{p.name:<{width}}  {what}")
        print(f"{len(spec.points)} runs, {len(todo)} to run")
        return []
    started = time.monotonic()
    if todo:
        _tune(spec, todo, states, config)
    rows = [_row(p) for p in spec.points]
    print(summary(rows, time.monotonic() - started))
    failed = [r["run"] for r in rows if r["status"] != "completed"]
    if failed:
        raise SweepFailed(f"{len(failed)} of {len(rows)} runs did not complete: "
                          f"{', '.join(failed)}")
    return rows


def _tune(spec, todo: list[Point], states: dict, config: SweepConfig) -> None:
    import os

    import ray
    from ray import tune

    from lib.console import captured
    from lib.runtime import cluster_address, ray_up
    from lib.sweep.progress import TrialLines
    from lib.train.capacity import run_cpus
    from lib.train.record import stop_on_sigterm

    storage = _storage(spec.points[0])  # the same place whichever runs are left
    configs = [_to_run(p, states[p.name]) for p in todo]
    # A trial, a run's driver, asks almost no CPU: a local Ray gets one more than the
    # largest run's, for them.
    per_run = max(run_cpus(c.scaling) for c in configs)
    scaling = configs[0].scaling
    with captured(f"{storage}/sweeps/{spec.name}/logs", config.verbose) as (console, log):
        console.line(f"sweep {spec.name}: {len(spec.points)} {spec.job} runs, {len(todo)} to "
                     f"run ({len(spec.points) - len(todo)} done); Ray's and Tune's output in "
                     f"{log}, each run's own in its logs/")
        with ray_up(config.address, local_cpus=per_run + 1):
            fits = max(1, int(ray.cluster_resources().get("CPU", 1) - 1) // per_run)
            concurrent = min(config.max_concurrent or fits, len(todo))
            console.line(f"  {concurrent} at once; the first run {scaling.workers} worker(s) x "
                         f"{scaling.cpus_per_worker} CPU(s)")
            # SIGTERM (`ray job stop`) and Ctrl-C alike end the sweep at once and record
            # its running runs stopped; Tune's own Ctrl-C handling would wait for its trials.
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
            # Tune calls this very object in this process (it copies the RunConfig, not its
            # callbacks): what it saw start and not end is what a stop has to record. Not
            # through Ray Client (a ray:// address), where Tune runs in the cluster and the
            # stop reads every run left to do instead.
            lines = TrialLines([p.name for p in todo])
            client = (cluster_address(config.address) or "").startswith("ray://")
            tuner = tune.Tuner(
                tune.with_resources(tune.with_parameters(_trial, job=spec.job, configs=configs,
                                                         cwd=os.getcwd()),
                                    {"CPU": 0.01}),  # the trial's driver; its workers ask theirs
                param_space={"index": tune.grid_search(list(range(len(todo))))},
                tune_config=tune.TuneConfig(max_concurrent_trials=concurrent),
                run_config=tune.RunConfig(
                    name=spec.name, storage_path=f"{storage}/sweeps", callbacks=[lines],
                    verbose=0))
            seen: list = []
            try:
                with stop_on_sigterm(seen):
                    tuner.fit()
            except KeyboardInterrupt:
                running = todo if client else [p for p in todo if p.name in lines.running]
                raise _stopped(running, seen[0] if seen else "an interrupt",
                               config.spec) from None


def _stopped(running: list[Point], signal: str, spec: str) -> RunStopped:
    """The runs the sweep was running, recorded stopped: their trials end with the sweep's
    Ray, before their own drivers could say so. Only those are read (every run left to do
    only through Ray Client): Ray's SIGKILL follows its SIGTERM by 3 s, a few reads on a
    URI storage."""
    from lib.metrics.runs import record_stopped, uninterrupted
    from lib.metrics.store import MetricsStore

    message = f"stopped by {signal} (its sweep's); continue with raydapt sweep {spec}"
    with uninterrupted():
        stopped = [p.name for p in running
                   if record_stopped(MetricsStore(_storage(p), p.name), message)]
    return RunStopped(f"sweep stopped by {signal}: {len(stopped)} run(s) recorded stopped"
                      f"{': ' + ', '.join(stopped) if stopped else ''}; run it again to "
                      f"finish the rest")


def _row(point: Point) -> dict:
    record = _record(point)
    accuracy = accuracy_of(_storage(point), point.name) \
        if record.get("status") == "completed" else None
    return {"run": point.name, "status": record.get("status", "not started"),
            "accuracy": accuracy, "seconds": record.get("wall_seconds"),
            "message": record.get("message")}


def summary(rows: list[dict], seconds: float) -> str:
    from lib.console import duration

    width = max(len(r["run"]) for r in rows)
    lines = [f"{'run':<{width}}  {'status':<11}  accuracy  wall"]
    for r in rows:
        accuracy = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "-"
        wall = duration(r["seconds"]) if r["seconds"] is not None else "-"
        lines.append(f"{r['run']:<{width}}  {r['status']:<11}  {accuracy:>8}  {wall}")
    done = sum(r["status"] == "completed" for r in rows)
    lines.append(f"{done} of {len(rows)} runs completed in {duration(seconds)}")
    return "\n".join(lines)
