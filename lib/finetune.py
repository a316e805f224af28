"""`raydapt finetune`: the transfer-learning job (VGG16 backbone + classic head)."""

from __future__ import annotations

import time

from lib.config import FinetuneConfig
from lib.console import EpochFollower, epoch_summary
from lib.data.classes import check_same_classes, parse_class_list
from lib.data.images import plan_images
from lib.data.uri import parse_uri
from lib.models import parse_trainable, weights_identity
from lib.phases import Phases
from lib.train.inputs import by_path, load_for_workers, plan_feature_cache, preflight
from lib.train.launch import (
    check_enough_rows,
    driving,
    fit,
    identify,
    init_from_checkpoint,
    local_replicas,
    resolve_run,
)
from lib.train.loop import ModelPlan, TrainPlan, train_worker
from lib.train.progress import read_progress

JOB = "finetune"


def finetune(config: FinetuneConfig) -> dict:
    """Train, write the run's Parquet tables, and return the last epoch's evaluation."""
    phases = Phases()
    config = resolve_run(config, JOB)
    sel, model_cfg, optim = config.data, config.model, config.optim
    # Preflight: what can be wrong with the input and needs no pixels fails here, before
    # Ray starts; the images are checked as Ray starts (driving's check).
    options = {"limit_per_class": sel.limit_per_class, "classes": parse_class_list(sel.classes),
               "seed": sel.seed, "image_size": sel.image_size}
    source = plan_images(parse_uri(config.source), None, **options)
    val = plan_images(parse_uri(config.val), None, **options) if config.val else None
    if val is not None:
        check_same_classes(source.class_names, val.class_names)
    top_blocks = parse_trainable(model_cfg.trainable)
    weights_identity(model_cfg.weights)
    check_enough_rows(source.num_rows, config.scaling, optim.batch_size, config.source)
    run, storage = config.run.run_name, config.run.storage
    init_from = init_from_checkpoint(storage, model_cfg.init_from) if model_cfg.init_from \
        else None
    plans = {"source": source} | ({"val": val} if val is not None else {})
    # A cached output is of the unaugmented image: --augment trains on images.
    cache = None if optim.augment else plan_feature_cache(
        model_cfg, sel.image_size, optim.precision, storage, config.scaling.workers)
    phases.add("preflight (listing, checks)", time.perf_counter() - phases.started)

    scaling = config.scaling
    identity = identify(config, JOB, "finetune", reads_target_labels=False)
    header = [f"finetune {run}: {source.num_rows:,} training images, trainable "
              f"{model_cfg.trainable}, {optim.epochs} epochs"
              + (f"; val {val.num_rows:,}" if val is not None else "")]
    with driving(config, identity, header, phases,
                 check=lambda: preflight(plans, cache)) as (console, store, log):
        with phases.timed("data for the workers (feature cache or images)"):
            # The frozen blocks' cached outputs' files (lib/train/features.FeatureFiles),
            # or with no cache Ray Datasets of preprocessed images.
            read, shape, feature_shape = load_for_workers(plans, cache=cache,
                                                          shuffle_seed=sel.seed)
            datasets, features = by_path(read)
        plan = TrainPlan(
            config=config,
            model=ModelPlan(model_cfg.weights, tuple(shape), sel.image_size, model_cfg.feature_layer,
                            top_blocks, len(source.class_names), feature_shape, init_from),
            identity=identity, class_names=source.class_names,
            eval_splits=(("val", config.val),) if val is not None else (),
            steps_per_epoch=source.num_rows // scaling.workers
            // (optim.batch_size * local_replicas(scaling)),
            live_progress=console.live,
            features=features,
        )
        with EpochFollower(console, store, optim.epochs, epoch_summary,
                           evaluates=bool(plan.eval_splits), log_path=log,
                           steps=lambda: read_progress(storage, run)):
            # The model is the best validation epoch's; without --val, the last.
            fit(train_worker, {"plan": plan}, datasets, ["source"], scaling, run, storage,
                config.failure, phases, keep=("val_accuracy", "max") if val else None)
    evals = store.read("evals").to_pylist()
    last = max(evals, key=lambda r: r["epoch"]) if evals else None
    if last:
        print(f"{run}: epoch {last['epoch']} {last['split']} accuracy {last['accuracy']:.4f}")
    return last or {}
