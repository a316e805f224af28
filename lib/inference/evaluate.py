"""`raydapt evaluate`: a kept epoch or an exported model on a dataset (lib/inference/batch.py),
printed and written to the run's `evaluations` table."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from lib.config import EvaluateConfig
from lib.inference.batch import scored
from lib.inference.epochs import run_of
from lib.inference.model import open_model
from lib.inference.plans import data_plan, described
from lib.train.steps import score_logits


def evaluate(config: EvaluateConfig) -> dict:
    """Score the model; return the evaluations row."""
    model = open_model(config.model, config.epoch)
    meta = model.metadata
    plan = data_plan(config.data, meta, same_classes=True)
    dataset = described(config.data)
    evaluated = model.run.location if model.kind == "run" else model.path
    run_dir = evaluated if model.kind == "run" else run_of(meta)
    _, labels, probabilities = scored(
        model, plan, config.inference,
        f"evaluate {config.model} (run {meta['identity']['run']}, epoch {meta['epoch']}, "
        f"{meta['epoch_rule']}) on {plan.num_rows:,} images of {dataset}",
        f"{run_dir}/logs" if run_dir else None)
    # log p as logits: their softmax is p again, so the loss is p's cross-entropy.
    result = score_logits(np.log(np.maximum(probabilities, 1e-30)), labels,
                          len(meta["class_names"]))
    row = meta["identity"] | result | {
        "epoch": meta["epoch"], "model": evaluated, "dataset": dataset,
        "class_names": list(meta["class_names"]),
        "evaluated": dt.datetime.now(dt.UTC).replace(microsecond=0)}
    written = None
    if run_dir:
        from lib.metrics.store import MetricsStore

        storage, _, run = run_dir.rpartition("/")
        # The same model, epoch and images again replace their row.
        part = hashlib.sha256(f"{evaluated}\0{meta['epoch']}\0{config.data}".encode()
                              ).hexdigest()[:12]
        written = MetricsStore(storage, run).write("evaluations", [row], part=part)
    print(report(row, written))
    return row


def report(row: dict, written: str | None) -> str:
    names = row["class_names"]
    width = max(len(n) for n in names)
    lines = [f"accuracy {row['accuracy']:.4f} ({row['num_examples']:,} images), loss "
             f"{row['loss']:.4f}; epoch {row['epoch']} of run {row['run']}",
             f"  {'class':<{width}}  accuracy  confusion (predicted: "
             f"{' '.join(n[:5] for n in names)})"]
    for name, accuracy, counts in zip(names, row["per_class_accuracy"], row["confusion"]):
        lines.append(f"  {name:<{width}}  {accuracy:8.4f}  " + " ".join(f"{c:5d}" for c in counts))
    lines.append(f"  written to {written}" if written else
                 "  (the model's run is not here: nothing written)")
    return "\n".join(lines)
