"""`raydapt adapt`: domain adaptation of a VGG16 backbone, one method per run."""

from __future__ import annotations

import time
from dataclasses import replace

from lib.adapt.data import plan_inputs, worker_inputs
from lib.adapt.loop import AdaptPlan, adapt_worker
from lib.adapt.methods import canonical_options, get_method
from lib.adapt.networks import NetworkPlan
from lib.adapt.selection import KEPT_BY, select_epochs
from lib.config import AdaptConfig
from lib.console import EpochFollower, epoch_summary
from lib.errors import UsageError
from lib.models import parse_trainable, weights_identity
from lib.phases import Phases
from lib.train.inputs import by_path, plan_feature_cache, preflight
from lib.train.launch import (
    check_enough_rows,
    driving,
    fit,
    identify,
    init_from_checkpoint,
    local_replicas,
    resolve_run,
)
from lib.train.progress import read_progress

JOB = "adapt"


def adapt(config: AdaptConfig) -> dict:
    """Train, write the run's Parquet tables (selection included); return the selection
    rows by criterion."""
    phases = Phases()
    if config.target is None and not config.run.resume:
        raise UsageError("Missing option '--target' (required unless --resume)")
    config = resolve_run(config, JOB)
    method = get_method(config.adapt.method, config.adapt.method_opt)
    # The run records every hyperparameter of its method, defaults included, and the
    # normalisation it got: its config says what it computed.
    config = replace(config, adapt=replace(
        config.adapt, method_opt=canonical_options(type(method), method.options),
        domain_norm=method.normalisation(config.adapt.domain_norm)))
    sel, backbone, optim, scaling = config.data, config.model, config.optim, config.scaling
    # Preflight: what can be wrong with the input and needs no pixels fails here, before
    # Ray starts; the images are checked as Ray starts (driving's check).
    inputs = plan_inputs(config)
    if config.adapt.select_by in ("source_val", "dev") and inputs.source_val is None:
        raise UsageError(f"--select-by {config.adapt.select_by} needs --source-val")
    top_blocks = parse_trainable(backbone.trainable)
    weights_identity(backbone.weights)
    for name, images in (("--source", inputs.source), ("--target", inputs.target)):
        check_enough_rows(images.num_rows, scaling, optim.batch_size, f"{name} {images.uri}")
    run, storage = config.run.run_name, config.run.storage
    init_from = init_from_checkpoint(storage, backbone.init_from) if backbone.init_from \
        else None
    cache = plan_feature_cache(backbone, sel.image_size, optim.precision, storage,
                               scaling.workers)
    phases.add("preflight (listing, checks)", time.perf_counter() - phases.started)

    identity = identify(config, JOB, method.name, method.reads_target_labels)
    shift = f" ({config.target_shift})" if config.target_shift else ""
    header = [f"adapt {run}: {method.name}, {inputs.source.num_rows:,} source + "
              f"{inputs.target.num_rows:,} target images{shift}, {optim.epochs} epochs; "
              + ", ".join(f"{name} {images.num_rows:,}" for name, images
                          in inputs.evaluated().items())]
    with driving(config, identity, header, phases,
                 check=lambda: preflight(inputs.by_name(), cache)) as (console, store, log):
        with phases.timed("data for the workers (feature cache or images)"):
            read, shape, feature_shape = worker_inputs(config, inputs,
                                                       method.reads_target_labels, cache)
            datasets, features = by_path(read)
        rows_per_worker = min(inputs.source.num_rows, inputs.target.num_rows) // scaling.workers
        plan = AdaptPlan(
            config=config,
            network=NetworkPlan(backbone.weights, tuple(shape), sel.image_size,
                                backbone.feature_layer, top_blocks, len(inputs.source.class_names),
                                config.adapt.bottleneck, config.adapt.domain_norm,
                                feature_shape),
            identity=identity, init_from=init_from,
            steps_per_epoch=rows_per_worker // (optim.batch_size * local_replicas(scaling)),
            class_names=inputs.source.class_names,
            eval_splits=tuple((name, f"{images.uri}" + (f" [{images.shift}]" if images.shift
                                                         else ""))
                              for name, images in inputs.evaluated().items()),
            live_progress=console.live,
            features=features,
        )
        with EpochFollower(console, store, optim.epochs, epoch_summary,
                           evaluates=bool(plan.eval_splits), log_path=log,
                           steps=lambda: read_progress(storage, run)):
            fit(adapt_worker, {"plan": plan}, datasets, ["source", "target"], scaling, run,
                storage, config.failure, phases, keep=KEPT_BY[config.adapt.select_by])
        with phases.timed("epoch selection"):
            picks = select_epochs(store.read("epochs").to_pylist(),
                                  store.read("evals").to_pylist())
            store.write("selection", [identity.row() | pick for pick in picks])
    print(summary(run, method, picks))
    return {pick["criterion"]: pick for pick in picks}


def summary(run: str, method, picks: list[dict]) -> str:
    lines = [f"{run}: {method.name}" + (" [trained on TARGET LABELS: oracle ceiling, not a "
                                        "result]" if method.reads_target_labels else "")]
    for pick in picks:
        accuracy = pick["target_test_accuracy"]
        lines.append(f"  {pick['criterion']:<20} epoch {pick['epoch']:>3}  target-test accuracy "
                     + (f"{accuracy:.4f}" if accuracy is not None else "n/a")
                     + ("" if pick["label_free"] else "  (picked with target labels)"))
    return "\n".join(lines)
