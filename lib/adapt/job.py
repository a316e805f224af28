"""`raydapt adapt`: domain adaptation of a VGG16 backbone, one method per run: a training
session (lib/train/session.py) whose learner is lib/adapt/session.MethodLearner."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from lib.adapt.data import plan_inputs, worker_inputs
from lib.adapt.methods import canonical_options, get_method
from lib.adapt.selection import KEPT_BY, select_epochs
from lib.adapt.session import MethodLearner
from lib.config import AdaptConfig
from lib.errors import UsageError
from lib.models import parse_trainable, weights_identity
from lib.train.capacity import check_enough_rows
from lib.train.inputs import plan_feature_cache
from lib.train.session import Setup, train_and_evaluate

JOB = "adapt"


def preflight(config: AdaptConfig):
    """What can be wrong with the input and needs no pixels fails here, before Ray
    starts; the images are checked as Ray starts (the session's check)."""
    method = get_method(config.adapt.method, config.adapt.method_opt)
    # The run records every hyperparameter of its method, defaults included, and the
    # normalisation it got: its config says what it computed.
    config = replace(config, adapt=replace(
        config.adapt, method_opt=canonical_options(type(method), method.options),
        domain_norm=method.normalisation(config.adapt.domain_norm)))
    backbone, optim, scaling = config.model, config.optim, config.scaling
    inputs = plan_inputs(config)
    if config.adapt.select_by in ("source_val", "dev") and inputs.source_val is None:
        raise UsageError(f"--select-by {config.adapt.select_by} needs --source-val")
    parse_trainable(backbone.trainable)
    weights_identity(backbone.weights)
    for name, images in (("--source", inputs.source), ("--target", inputs.target)):
        check_enough_rows(images.num_rows, scaling, optim.batch_size, f"{name} {images.uri}")
    cache = plan_feature_cache(backbone, config.data.image_size, optim.precision,
                               config.run.storage, scaling.workers)
    shift = f" ({config.target_shift})" if config.target_shift else ""
    evaluated = inputs.evaluated()
    return config, Setup(
        learner=partial(MethodLearner, method=method), method=method.name,
        reads_target_labels=method.reads_target_labels,
        header=f"adapt {config.run.run_name}: {method.name}, {inputs.source.num_rows:,} source + "
               f"{inputs.target.num_rows:,} target images{shift}, {optim.epochs} epochs; "
               + ", ".join(f"{name} {images.num_rows:,}" for name, images in evaluated.items()),
        plans=inputs.by_name(), domains=("source", "target"),
        eval_splits=tuple((name, f"{images.uri}" + (f" [{images.shift}]" if images.shift else ""))
                          for name, images in evaluated.items()),
        cache=cache,
        load=lambda: worker_inputs(config, inputs, method.reads_target_labels, cache),
        keep=KEPT_BY[config.adapt.select_by], finish=select)


def select(store, identity, phases) -> tuple:
    """The epoch each criterion picks (lib/adapt/selection.py), as the selection table."""
    with phases.timed("epoch selection"):
        picks = select_epochs(store.read("epochs").to_pylist(), store.read("evals").to_pylist())
        store.write("selection", [identity.row() | pick for pick in picks])
    return identity, picks


def adapt(config: AdaptConfig) -> dict:
    """Train, write the run's Parquet tables (selection included); return the selection
    rows by criterion."""
    if config.target is None and not config.run.resume:
        raise UsageError("Missing option '--target' (required unless --resume)")
    _, (identity, picks) = train_and_evaluate(config, JOB, preflight)
    print(summary(identity, picks))
    return {pick["criterion"]: pick for pick in picks}


def summary(identity, picks: list[dict]) -> str:
    lines = [f"{identity.run}: {identity.method}" + (
        " [trained on TARGET LABELS: oracle ceiling, not a result]"
        if identity.reads_target_labels else "")]
    for pick in picks:
        accuracy = pick["target_test_accuracy"]
        lines.append(f"  {pick['criterion']:<20} epoch {pick['epoch']:>3}  target-test accuracy "
                     + (f"{accuracy:.4f}" if accuracy is not None else "n/a")
                     + ("" if pick["label_free"] else "  (picked with target labels)"))
    return "\n".join(lines)
