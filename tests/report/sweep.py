"""Small sweeps written through the project's own writers (MetricsStore, RunRecord,
select_epochs), with numbers chosen by the test so the report's arithmetic can be checked."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lib.adapt.selection import select_epochs
from lib.config import (
    AdaptConfig,
    AdaptOptimConfig,
    AdaptOptions,
    DataConfig,
    FinetuneOptimConfig,
    RunOptions,
)
from lib.metrics.runs import RunRecord
from lib.metrics.store import MetricsStore

CLASSES = ["airplane", "automobile", "bird"]


def confusion_for(accuracy: float, per_class: int = 100) -> list[list[int]]:
    right = round(accuracy * per_class)
    return [[right if i == j else (per_class - right if j == (i + 1) % 3 else 0)
             for j in range(3)] for i in range(3)]


def eval_row(split: str, accuracy: float) -> dict:
    return {"split": split, "dataset": f"folder:x [{'fog@4' if split == 'target_test' else ''}]",
            "num_examples": 300, "loss": 1.0, "accuracy": accuracy, "class_names": CLASSES,
            "per_class_accuracy": [accuracy] * 3, "confusion": confusion_for(accuracy)}


def write_adapt_run(storage, name: str, method: str, seed: int, target_accuracy: list[float],
                    shift: str = "fog@4", status: str = "completed", embeddings: bool = False,
                    finished: bool = True) -> None:
    """An adapt run whose source_val accuracy peaks at the last epoch, so source_val
    selection reports target_accuracy[-1]."""
    epochs = len(target_accuracy)
    config = AdaptConfig(target="folder:t", target_shift=shift,
                         data=DataConfig(seed=seed),
                         adapt=AdaptOptions(method=method),
                         optim=AdaptOptimConfig(epochs=epochs),
                         run=RunOptions(storage=str(storage), run_name=name))
    store = MetricsStore(str(storage), name)
    oracle = method == "oracle"
    identity = {"run": name, "job": "adapt", "method": method, "reads_target_labels": oracle,
                "config_hash": f"h{seed}", "workers": 2, "replicas": 2}
    record = RunRecord(store, identity, asdict(config))
    record.write("running")
    store.write("domain_distance", [identity | {"epoch": -1, "representation": "backbone",
                                                "samples": 20, "proxy_a_distance": 1.5}],
                epoch=-1)
    rng = np.random.default_rng(seed)
    for epoch, target in enumerate(target_accuracy):
        adversarial = method == "dann"
        store.write("epochs", [identity | {
            "epoch": epoch, "loss": 2.0 - 0.1 * epoch, "accuracy": 0.5 + 0.01 * epoch,
            "images_per_s": 100.0 * (epoch + 1), "epoch_seconds": 1.0, "learning_rate": 1e-4,
            "terms": {"domain_loss": 0.6, "domain_accuracy": 0.6, "grl_lambda": 0.5}
            if adversarial else None,
            "snd": 1.0 + epoch, "dev": 1.0}],
            epoch=epoch)
        store.write("evals", [identity | {"epoch": epoch} | eval_row("source_val",
                                                                   0.5 + 0.01 * epoch),
                              identity | {"epoch": epoch} | eval_row("target_test", target)],
                    epoch=epoch)
        store.write("domain_distance", [identity | {
            "epoch": epoch, "representation": "bottleneck", "samples": 20,
            "proxy_a_distance": 1.0 + 0.1 * epoch}], epoch=epoch)
        if embeddings:
            for at, representation, dim in ((-1, "backbone", 8), (epoch, "bottleneck", 4)):
                rows = [identity | {"epoch": at, "representation": representation,
                                    "domain": domain, "label": 0 if domain == "source" else None,
                                    "features": rng.normal(shift_, 1.0, dim).astype(np.float32)}
                        for domain, shift_ in (("source", 0.0), ("target", 3.0))
                        for _ in range(10)]
                store.write("embeddings", rows, epoch=at)
    if finished:
        picks = select_epochs(store.read("epochs").to_pylist(), store.read("evals").to_pylist())
        store.write("selection", [identity | p for p in picks])
        record.write(status, epochs_done=epochs)


def write_finetune_run(storage, name: str, val_accuracy: list[float]) -> None:
    from lib.config import FinetuneConfig

    config = FinetuneConfig(optim=FinetuneOptimConfig(epochs=len(val_accuracy)),
                            run=RunOptions(storage=str(storage), run_name=name))
    store = MetricsStore(str(storage), name)
    identity = {"run": name, "job": "finetune", "method": "finetune",
                "reads_target_labels": False, "config_hash": "f", "workers": 1, "replicas": 1}
    record = RunRecord(store, identity, asdict(config))
    for epoch, accuracy in enumerate(val_accuracy):
        store.write("epochs", [identity | {
            "epoch": epoch, "loss": 1.0, "accuracy": 0.5, "images_per_s": 50.0,
            "epoch_seconds": 2.0, "learning_rate": 1e-3}], epoch=epoch)
        store.write("evals", [identity | {"epoch": epoch} | eval_row("val", accuracy)],
                    epoch=epoch)
    record.write("completed", epochs_done=len(val_accuracy))


def write_sweep(storage) -> None:
    """fog@4, seeds 0 and 1: source-only, dann and oracle; plus one finetune run."""
    finals = {"source-only": (0.30, 0.32), "dann": (0.40, 0.44), "oracle": (0.50, 0.52)}
    for method, per_seed in finals.items():
        for seed, final in enumerate(per_seed):
            write_adapt_run(storage, f"{method}-s{seed}", method, seed, [0.2, final],
                            embeddings=method == "dann" and seed == 0)
    write_finetune_run(storage, "ft", [0.55, 0.6])
