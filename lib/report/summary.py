"""One row per run, or per group of runs that differ only in seed: what a sweep's reader
compares. Column names are stable; csv and json print them as they are (see README)."""

from __future__ import annotations

import fnmatch
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from lib.adapt.selection import select_epochs
from lib.config import experiment_key
from lib.report.load import Metrics

RUN_COLUMNS = (
    "run", "job", "method", "oracle", "shift", "weights", "feature_layer", "trainable", "seed",
    "workers", "replicas", "epochs", "epochs_planned", "status", "selection", "selected_epoch",
    "source_accuracy", "target_accuracy", "gain", "a_distance_before", "a_distance_after",
    "images_per_s", "wall_seconds", "started", "config_hash",
)
MEASURES = ("source_accuracy", "target_accuracy", "gain", "a_distance_before",
            "a_distance_after", "images_per_s", "wall_seconds")
GROUP_COLUMNS = (
    "job", "method", "oracle", "shift", "weights", "feature_layer", "trainable", "workers",
    "epochs_planned", "selection", "runs", "seeds", "status",
    *(f"{m}_{stat}" for m in MEASURES for stat in ("mean", "std")),
)
_METHOD_ORDER = {"finetune": 0, "source-only": 1, "adabn": 2, "oracle": 9}


@dataclass
class RunTables:
    """One run's rows of each table it has."""

    name: str
    record: dict | None = None
    config: dict = field(default_factory=dict)
    epochs: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    domain_distance: list[dict] = field(default_factory=list)
    selection: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)  # raydapt evaluate's rows
    location: str | None = None  # the run's directory

    @property
    def terms(self) -> list[str]:
        """The names of the method's own terms in any epoch (dann: domain_loss, ...)."""
        return sorted({name for e in self.epochs for name in e["terms"]})

    @property
    def job(self) -> str | None:
        rows = [self.record] if self.record else self.epochs or self.evals
        return rows[0]["job"] if rows else None

    def setting(self, *path: str):
        """A value of the run's saved config, None where that job has no such field."""
        value = self.config
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def picked(self, rule: str) -> dict | None:
        """{epoch, source_accuracy, target_accuracy, rule} of the epoch the run reports."""
        if self.job == "adapt":
            # A finished run's choice is in its selection table; a running one's is
            # computed the same way from the epochs so far.
            picks = self.selection or (select_epochs(self.epochs, self.evals)
                                       if self.epochs else [])
            pick = next((p for p in picks if p["criterion"] == rule), None)
            return pick and {"rule": rule, "epoch": pick["epoch"],
                             "source_accuracy": pick["source_val_accuracy"],
                             "target_accuracy": pick["target_test_accuracy"]}
        val = [e for e in self.evals if e["split"] == "val"]
        last = max(val, key=lambda e: e["epoch"]) if val else None
        return last and {"rule": "last", "epoch": last["epoch"],
                         "source_accuracy": last["accuracy"], "target_accuracy": None}

    def distance(self, epoch: int | None, representation: str | None = None) -> float | None:
        """The proxy A-distance measured at an epoch (of one representation, or any)."""
        return next((d["proxy_a_distance"] for d in self.domain_distance if d["epoch"] == epoch
                     and representation in (None, d["representation"])), None)


def run_tables(metrics: Metrics) -> dict[str, RunTables]:
    runs = {r.name: RunTables(r.name, location=r.store.location) for r in metrics.runs}
    for table in ("epochs", "evals", "domain_distance", "selection", "evaluations"):
        for row in metrics.read(table).to_pylist():
            if row["run"] in runs:
                getattr(runs[row["run"]], table).append(row)
    for row in metrics.read("runs").to_pylist():
        if row["run"] in runs:
            runs[row["run"]].record = row
            runs[row["run"]].config = json.loads(row["config_json"] or "{}")
    for run in runs.values():
        for epoch in run.epochs:  # a Parquet map reads as (key, value) pairs
            epoch["terms"] = dict(epoch.get("terms") or [])
        run.epochs.sort(key=lambda e: e["epoch"])
        run.evals.sort(key=lambda e: (e["epoch"], e["split"]))
    return runs


def _images_per_s(epochs: list[dict]) -> float | None:
    # The first epoch includes graph tracing; it is left out when there are others.
    speeds = [e["images_per_s"] for e in epochs[1:] or epochs if e["images_per_s"] is not None]
    return statistics.fmean(speeds) if speeds else None


def summarize_run(run: RunTables, rule: str) -> dict:
    record = run.record or {}
    first = record or (run.epochs or run.evals or [{}])[0]
    pick = run.picked(rule) or {}
    return {
        "run": run.name, "job": run.job, "method": first.get("method"),
        "oracle": first.get("reads_target_labels"), "shift": run.setting("target_shift"),
        "weights": run.setting("model", "weights"),
        "feature_layer": run.setting("model", "feature_layer"),
        "trainable": run.setting("model", "trainable"), "seed": run.setting("data", "seed"),
        "workers": first.get("workers"), "replicas": first.get("replicas"),
        "epochs": len(run.epochs), "epochs_planned": run.setting("optim", "epochs"),
        "status": record.get("status", "unknown"), "selection": pick.get("rule"),
        "selected_epoch": pick.get("epoch"), "source_accuracy": pick.get("source_accuracy"),
        "target_accuracy": pick.get("target_accuracy"), "gain": None,
        "a_distance_before": run.distance(-1, "backbone"),
        "a_distance_after": run.distance(pick.get("epoch"), "bottleneck"),
        "images_per_s": _images_per_s(run.epochs), "wall_seconds": record.get("wall_seconds"),
        "started": record.get("started"), "config_hash": first.get("config_hash"),
    }


def _add_gains(rows: list[dict], runs: dict[str, RunTables]) -> None:
    """Target accuracy over the source-only run of the same experiment and seed."""
    # A method's baseline is the run that differs from it only in the method.
    method = (("adapt", "method"), ("adapt", "method_opt"), ("adapt", "domain_norm"))
    baselines = {experiment_key(runs[r["run"]].config, *method): r for r in rows
                 if r["method"] == "source-only" and r["target_accuracy"] is not None}
    for row in rows:
        if row["job"] != "adapt" or row["method"] == "source-only" or row["target_accuracy"] is None:
            continue
        base = baselines.get(experiment_key(runs[row["run"]].config, *method))
        if base is not None:
            row["gain"] = row["target_accuracy"] - base["target_accuracy"]


def keep(row: dict, filters) -> bool:
    return (all(getattr(filters, k) in (None, row[k]) for k in ("job", "method", "shift", "status"))
            and (filters.match is None or fnmatch.fnmatchcase(row["run"], filters.match)))


def _order(row: dict):
    return (row["job"] or "", row["shift"] or "", _METHOD_ORDER.get(row["method"], 5),
            row["method"] or "", row["seed"] if row["seed"] is not None else -1, row["run"])


def summarize(runs: dict[str, RunTables], rule: str, filters) -> list[dict]:
    """Rows in RUN_COLUMNS, gains computed over every run found, then filtered. Runs with
    no training tables (bench runs: see `--job bench`) have no row."""
    rows = [summarize_run(run, rule) for run in runs.values() if run.job is not None]
    _add_gains(rows, runs)
    return sorted((r for r in rows if keep(r, filters)), key=_order)


def _mean_std(values: list) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def by_seed(rows: list[dict], runs: dict[str, RunTables]) -> list[dict]:
    """Rows in GROUP_COLUMNS: runs that differ only in seed, as mean and sample std."""
    groups = defaultdict(list)
    for row in rows:
        groups[experiment_key(runs[row["run"]].config, ("data", "seed"))].append(row)
    out = []
    for members in groups.values():
        group = {k: members[0].get(k) for k in GROUP_COLUMNS}  # the columns in their order
        group |= {"runs": len(members), "seeds": ",".join(str(m["seed"]) for m in members),
                  "status": ", ".join(f"{n} {s}" for s, n in
                                      sorted(Counter(m["status"] for m in members).items()))}
        for measure in MEASURES:
            group[f"{measure}_mean"], group[f"{measure}_std"] = _mean_std(
                [m[measure] for m in members])
        out.append(group)
    return out
