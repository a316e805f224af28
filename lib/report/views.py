"""What each report shows people: the summary (per run or per seed group), the bench
table, and one run in depth. Builds TextTables; lib/report/render.py prints them."""

from __future__ import annotations

import json

from lib.report.render import TextTable, duration, number, percent, points, spread
from lib.report.summary import RunTables


def _caption(rule: str) -> str:
    return (f"Accuracy (%) at the epoch picked by {rule} (adapt runs; finetune: the last epoch)."
            " gain: target accuracy over the source-only run of the same experiment and seed,"
            " in points. A-dist: proxy A-distance of source vs target training images,"
            " backbone features before training > adapted features at the picked epoch."
            " * oracle: trained on target labels, the ceiling, not a result.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _experiment(row: dict) -> list[str]:
    """A run's or a group's job, method (*: an oracle), shift, model and workers."""
    return [str(row["job"]), f"{row['method']}*" if row["oracle"] else str(row["method"]),
            row["shift"] or "-", " ".join(str(row[k]) for k in ("weights", "feature_layer", "trainable")),
            str(row["workers"])]


def _change(before: str, after: str) -> str:
    return "-" if before == after == "-" else f"{before} > {after}"


def summary_table(rows: list[dict], rule: str) -> TextTable:
    headers = ["run", "job", "method", "shift", "model", "workers", "epochs", "status",
               "source acc", f"target acc ({rule})", "gain", "A-dist", "img/s", "wall"]
    body = [[r["run"], *_experiment(r), f"{r['epochs']}/{r['epochs_planned']}", r["status"],
             percent(r["source_accuracy"]), percent(r["target_accuracy"])
             + (f" (e{r['selected_epoch']})" if r["target_accuracy"] is not None else ""),
             points(r["gain"]), _change(number(r["a_distance_before"]), number(r["a_distance_after"])),
             number(r["images_per_s"], 0), duration(r["wall_seconds"])] for r in rows]
    return TextTable(_count(len(rows), "run"), headers, body, _caption(rule))


def group_table(groups: list[dict], rule: str) -> TextTable:
    headers = ["job", "method", "shift", "model", "workers", "seeds", "status", "source acc",
               f"target acc ({rule})", "gain", "A-dist", "img/s", "wall"]

    def cell(g, measure, show):
        return spread(g[f"{measure}_mean"], g[f"{measure}_std"], show)

    body = [[*_experiment(g), g["seeds"], g["status"], cell(g, "source_accuracy", percent),
             cell(g, "target_accuracy", percent), cell(g, "gain", points),
             _change(cell(g, "a_distance_before", number), cell(g, "a_distance_after", number)),
             cell(g, "images_per_s", lambda x: number(x, 0)), cell(g, "wall_seconds", duration)]
            for g in groups]
    return TextTable(f"{_count(len(groups), 'experiment')}, mean ± sample std over seeds",
                     headers, body, _caption(rule))


def bench_table(rows: list[dict]) -> TextTable:
    headers = ["run", "name", "precision", "workers", "batch", "img/s", "GFLOP/s", "peak",
               "MFU", "seconds", "note"]
    body = [[r["run"], r["name"], r["precision"], str(r["workers"]), str(r["batch_size"]),
             number(r["images_per_s"], 1), number(r["achieved_gflops"], 0),
             number(r["peak_gflops"], 0), number(r["mfu"]), number(r["seconds"], 1),
             r["note"] or ""] for r in rows]
    machines = sorted({r["machine"] for r in rows})
    return TextTable(_count(len(rows), "bench measurement"), headers, body,
                     "Machine: " + "; ".join(machines) if machines else "")


EPOCH_FIELDS = ("epoch", "loss", "accuracy", "learning_rate", "snd", "dev", "images_per_s",
                "epoch_seconds")


def epoch_rows(run: RunTables) -> tuple[list[dict], list[str]]:
    """Per-epoch rows joined with each split's accuracy and the A-distance: the csv/json
    form of --run. Columns: EPOCH_FIELDS, the method's terms (whatever the run has, e.g.
    domain_loss), accuracy_<split> per split, a_distance."""
    accuracy = {(v["epoch"], v["split"]): v["accuracy"] for v in run.evals}
    names, terms = sorted({split for _, split in accuracy}), run.terms
    rows = [{k: e[k] for k in EPOCH_FIELDS} | {t: e["terms"].get(t) for t in terms}
            | {f"accuracy_{s}": accuracy.get((e["epoch"], s)) for s in names}
            | {"a_distance": run.distance(e["epoch"])} for e in run.epochs]
    return rows, [*EPOCH_FIELDS, *terms, *(f"accuracy_{s}" for s in names), "a_distance"]


def _flatten(config: dict, prefix: str = "") -> list[list[str]]:
    out = []
    for key, value in config.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append([f"{prefix}{key}", json.dumps(value)])
    return out


def phase_table(phases: dict[str, float], wall: float | None) -> TextTable:
    """Where the run's wall time went (lib/phases.py), the rest of the driver's last."""
    rows = list(phases.items())
    if wall:
        rows.append(("other (driver: config, log, run record)",
                     max(wall - sum(phases.values()), 0.0)))
    total = wall or sum(phases.values())
    return TextTable("Time", ["phase", "seconds", "share"],
                     [[name, f"{seconds:.1f}", f"{seconds / total:.0%}" if total else "-"]
                      for name, seconds in rows],
                     f"wall {duration(wall)}; rank 0's phases inside Ray Train's fit")


def kept_checkpoints(run: RunTables) -> str:
    """Which epochs' checkpoints the run kept, and what each is for."""
    from lib.inference.epochs import model_epoch
    from lib.train.checkpoint import kept_epochs

    epochs = sorted(kept_epochs(run.location)) if run.location else []
    if not epochs:
        return "none"
    model = model_epoch(run.job, run.setting("adapt", "select_by"), run.selection, run.evals,
                        run.epochs)
    latest = max(e["epoch"] for e in run.epochs) if run.epochs else None
    roles = {e: [] for e in epochs}
    if model is not None and model[0] in roles:
        roles[model[0]].append(f"the model: {model[1]}")
    if latest in roles:
        roles[latest].append("latest")
    return ", ".join(f"{e}" + (f" ({'; '.join(roles[e])})" if roles[e] else "") for e in epochs)


def run_detail(run: RunTables, rule: str) -> list[TextTable]:
    record = run.record or {}
    pick = run.picked(rule) or {}
    picked = pick.get("epoch")
    about = [("job", str(run.job)), ("status", record.get("status", "unknown")),
             ("message", record.get("message") or "-"),
             ("oracle (read target labels)", str(record.get("reads_target_labels"))),
             ("started", str(record.get("started"))),
             ("wall", duration(record.get("wall_seconds"))),
             ("workers x replicas", f"{record.get('workers')} x {record.get('replicas')}"),
             ("git commit", str(record.get("git_commit"))),
             ("reported epoch", f"{picked} ({pick.get('rule')})"),
             ("kept checkpoints", kept_checkpoints(run))]
    tables = [TextTable(f"Run {run.name}", ["", ""], [list(p) for p in about])]
    if record.get("phases"):
        tables.append(phase_table(dict(record["phases"]), record.get("wall_seconds")))

    rows, columns = epoch_rows(run)
    show = {"epoch": lambda e: f"{e}*" if e == picked else str(e), "loss": number, "snd": number,
            "dev": number, "a_distance": number, "learning_rate": lambda x: number(x, 6),
            "images_per_s": lambda x: number(x, 0), "epoch_seconds": lambda x: number(x, 1)}
    # A method's terms: accuracies in % like the others, anything else a number.
    show |= {t: number for t in run.terms if not t.endswith("accuracy")}
    kept = [c for c in columns if any(r[c] is not None for r in rows)]
    tables.append(TextTable(
        "Epochs", kept, [[show.get(c, percent)(r[c]) for c in kept] for r in rows],
        "accuracy columns in %; * the reported epoch"))

    if run.selection:
        tables.append(TextTable(
            "Selection", ["criterion", "label-free", "epoch", "value", "source val acc", "target test acc"],
            [[s["criterion"], str(s["label_free"]), str(s["epoch"]), number(s["criterion_value"], 4),
              percent(s["source_val_accuracy"]), percent(s["target_test_accuracy"])]
             for s in run.selection]))

    at_pick = {e["split"]: e for e in run.evals if e["epoch"] == picked}
    if at_pick:
        names = sorted(at_pick)
        tables.append(TextTable(
            f"Per-class accuracy (%), epoch {picked}", ["class", *names],
            [[c, *(percent(at_pick[s]["per_class_accuracy"][i]) for s in names)]
             for i, c in enumerate(at_pick[names[0]]["class_names"])]))
        for split, e in sorted(at_pick.items()):
            short = [c[:5] for c in e["class_names"]]
            tables.append(TextTable(
                f"Confusion, {split} ({e['dataset']}), epoch {picked}", ["true \\ predicted", *short],
                [[c, *map(str, counts)] for c, counts in zip(e["class_names"], e["confusion"])]))
    if run.evaluations:
        tables.append(TextTable(
            "Evaluations (raydapt evaluate)", ["evaluated", "epoch", "model", "dataset",
                                                "images", "accuracy"],
            [[str(e["evaluated"]), str(e["epoch"]), e["model"], e["dataset"],
              str(e["num_examples"]), percent(e["accuracy"])]
             for e in sorted(run.evaluations, key=lambda e: e["evaluated"])]))
    tables.append(TextTable("Config", ["field", "value"], _flatten(run.config)))
    return tables
