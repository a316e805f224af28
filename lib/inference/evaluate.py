"""`raydapt evaluate`: a kept epoch or an exported model on a dataset (lib/inference/batch.py),
printed and written to the run's `evaluations` table."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile

import numpy as np

from lib.config import EvaluateConfig
from lib.console import captured
from lib.data.classes import check_same_classes
from lib.errors import DataError
from lib.inference.batch import score
from lib.inference.model import open_model
from lib.inference.plans import data_plan
from lib.runtime import init_ray
from lib.train.steps import score_logits


def evaluate(config: EvaluateConfig) -> dict:
    """Score the model; return the evaluations row."""
    model = open_model(config.model, config.epoch)
    meta = model.metadata
    plan = data_plan(config.data, meta["image_size"])
    try:
        check_same_classes(tuple(meta["class_names"]), plan.class_names)
    except DataError:
        raise DataError(f"--data {config.data.data} has classes {', '.join(plan.class_names)}; "
                        f"the model's are {', '.join(meta['class_names'])}"
                        + ("" if config.data.classes else " (pick them with --classes)")) from None
    plan.preflight()
    dataset = config.data.data + (f" [{config.data.target_shift}]" if config.data.target_shift
                                  else "")
    run_dir = meta["run_location"] if os.path.isdir(meta["run_location"]) else None
    logs = f"{run_dir}/logs" if run_dir else tempfile.mkdtemp(prefix="raydapt-evaluate-")
    with captured(logs, config.inference.verbose) as (console, log):
        console.line(f"evaluate {config.model} (run {meta['identity']['run']}, epoch "
                     f"{meta['epoch']}, {meta['epoch_rule']}) on {plan.num_rows:,} images of "
                     f"{dataset}; Ray's output in {log}")
        connected = init_ray(config.inference.address)
        try:
            _, labels, probabilities = score(config.model, config.epoch, plan,
                                             config.inference.actors)
        finally:
            if connected:
                import ray

                ray.shutdown()
    # log p as logits: their softmax is p again, so the loss is p's cross-entropy.
    result = score_logits(np.log(np.maximum(probabilities, 1e-30)), labels,
                          len(meta["class_names"]))
    row = meta["identity"] | result | {
        "epoch": meta["epoch"], "model": config.model, "dataset": dataset,
        "class_names": list(meta["class_names"]),
        "evaluated": dt.datetime.now(dt.UTC).replace(microsecond=0)}
    if run_dir:
        from lib.metrics.store import MetricsStore

        storage, _, run = run_dir.rpartition("/")
        # The same model on the same data again replaces its row.
        part = hashlib.sha256(f"{config.model}\0{meta['epoch']}\0{dataset}\0"
                              f"{config.data}".encode()).hexdigest()[:12]
        written = MetricsStore(storage, run).write("evaluations", [row], part=part)
    print(report(row, written if run_dir else None))
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
