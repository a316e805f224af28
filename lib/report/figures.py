"""The pictures of one run, as matplotlib figures: training curves, confusion matrices
as heat maps, and (adapt) a 2-D PCA of source vs target features before and after
adaptation, the figure the DANN paper is known for."""

from __future__ import annotations

import io

import numpy as np
import pyarrow.dataset as ds

from lib.report.load import Metrics
from lib.report.summary import RunTables


def _subplots(columns: int, figsize: tuple[float, float], **options):
    """pyplot.subplots(1, columns) without pyplot: no backend to choose (no display on
    cluster nodes or in CI), no figure to close."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(1, columns, **options)


def curves(run: RunTables, picked: int | None):
    """Loss and accuracy per epoch: training (source batches), each evaluated split, and
    every term of the method's (dashed: DANN's domain loss and domain classifier accuracy,
    MDD's disparities, MCC's class confusion, reversal weights...)."""
    fig, (loss_ax, acc_ax) = _subplots(2, (11, 4))
    epochs = [e["epoch"] for e in run.epochs]

    def line(ax, values, label, **style):
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], marker="o",
                    markersize=3, label=label, **style)

    line(loss_ax, [e["loss"] for e in run.epochs], "training loss (source)")
    line(acc_ax, [e["accuracy"] for e in run.epochs], "training (source)")
    for split in sorted({v["split"] for v in run.evals}):
        by_epoch = {v["epoch"]: v["accuracy"] for v in run.evals if v["split"] == split}
        line(acc_ax, [by_epoch.get(e) for e in epochs], split)
    for term in run.terms:
        line(acc_ax if term.endswith("accuracy") else loss_ax,
             [e["terms"].get(term) for e in run.epochs], term.replace("_", " "), linestyle="--")
    for ax, title in ((loss_ax, "loss and the method's terms"), (acc_ax, "accuracy")):
        if picked is not None:
            ax.axvline(picked, color="grey", linewidth=0.8, linestyle=":")
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    acc_ax.set_ylim(0, 1)
    fig.suptitle(f"{run.name}" + (f" (dotted: reported epoch {picked})"
                                  if picked is not None else ""))
    return fig


def confusion(run: RunTables, picked: int):
    """One heat map per evaluated split at the reported epoch; colour is the row-normalised
    rate (so classes of any size compare), numbers are counts."""
    evals = [v for v in run.evals if v["epoch"] == picked]
    fig, axes = _subplots(len(evals), (5.5 * len(evals), 5), squeeze=False)
    for ax, e in zip(axes[0], evals):
        counts = np.array(e["confusion"], dtype=float)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        names = e["class_names"]
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        for i, j in np.ndindex(counts.shape):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=6,
                    color="white" if rates[i, j] > 0.5 else "black")
        ax.set(xlabel="predicted", ylabel="true")
        ax.set_title(f"{e['split']}: {100 * e['accuracy']:.1f}%", fontsize=9)
    fig.suptitle(f"{run.name}, epoch {picked}")
    return fig


def pca_2d(features: np.ndarray) -> np.ndarray:
    """Projection on the top two principal components (of the rows given)."""
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def embedding(run: RunTables, rows: list[dict], picked: int):
    """Source vs target features: the backbone's before training, the adapted ones at the
    reported epoch. Each panel has its own PCA, fitted on both domains together."""
    panels = [("backbone features, before training", -1, "backbone"),
              (f"adapted features, epoch {picked}", picked, "bottleneck")]
    fig, axes = _subplots(2, (11, 5))
    for ax, (title, epoch, representation) in zip(axes, panels):
        chosen = [r for r in rows if r["epoch"] == epoch and r["representation"] == representation]
        if not chosen:
            ax.set_title(f"{title}: not saved")
            ax.axis("off")
            continue
        points = pca_2d(np.array([r["features"] for r in chosen], dtype=np.float64))
        domains = np.array([r["domain"] for r in chosen])
        for domain, colour in (("source", "tab:blue"), ("target", "tab:red")):
            at = domains == domain
            ax.scatter(points[at, 0], points[at, 1], s=6, alpha=0.6, c=colour,
                       label=f"{domain} ({at.sum()})")
        ax.set_title(title, fontsize=10)
        ax.set(xticks=[], yticks=[])
        ax.legend(fontsize=8)
    fig.suptitle(f"{run.name}: PCA of source vs target training images")
    return fig


def run_figures(run: RunTables, rule: str, metrics: Metrics) -> dict[str, bytes]:
    """{name: PNG} of every figure this run has data for; only adapt runs have a saved
    feature sample, read from `metrics` without the rest of the sweep's."""
    pick = run.picked(rule)
    picked = pick["epoch"] if pick else (run.epochs[-1]["epoch"] if run.epochs else None)
    figures = {}
    if run.epochs:
        figures["curves"] = curves(run, picked)
    if any(v["epoch"] == picked for v in run.evals):
        figures["confusion"] = confusion(run, picked)
    if run.job == "adapt" and picked is not None:
        where = (ds.field("run") == run.name) & ds.field("epoch").isin([-1, picked])
        rows = metrics.read("embeddings", where).to_pylist()
        if rows:
            figures["embedding"] = embedding(run, rows, picked)
    return {name: png(fig) for name, fig in figures.items()}


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
