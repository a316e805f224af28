"""`raydapt finetune`: the transfer-learning job (VGG16 backbone + classic head)."""

from __future__ import annotations

from dataclasses import asdict, replace

from lib.config import FinetuneConfig, config_from_dict
from lib.data.classes import check_same_classes, parse_class_list
from lib.data.feed import model_ready
from lib.data.images import content_checksum, plan_images
from lib.data.uri import parse_uri
from lib.errors import DataError, NoInputError
from lib.metrics.runs import RunRecord
from lib.metrics.store import MetricsStore
from lib.models import parse_trainable, weights_identity
from lib.runtime import init_ray
from lib.train.launch import (
    config_hash,
    fit,
    load_config,
    new_run_name,
    resolve_storage,
    save_config,
    with_cpus,
)
from lib.train.loop import ModelPlan, RunIdentity, WorkerPlan, train_worker

JOB = "finetune"


def resolve(config: FinetuneConfig) -> FinetuneConfig:
    """Apply --resume (the saved config of that run) and name the run."""
    storage = resolve_storage(config.run.storage)
    if config.run.resume:
        saved = config_from_dict(FinetuneConfig, load_config(storage, config.run.resume))
        return replace(saved, run=replace(config.run, storage=storage,
                                          run_name=config.run.resume, resume=config.run.resume))
    return replace(config, scaling=with_cpus(config.scaling), run=replace(
        config.run, storage=storage, run_name=config.run.run_name or new_run_name(JOB)))



def local_replicas(scaling) -> int:
    return scaling.gpus_per_worker or scaling.cpu_replicas_per_worker


def check_enough_rows(num_rows: int, scaling, batch_size: int, what: str) -> None:
    """Every worker needs at least one full batch, or training would do nothing."""
    per_worker = num_rows // scaling.workers
    local_batch = batch_size * local_replicas(scaling)
    if per_worker < local_batch:
        raise DataError(f"{what}: {num_rows} rows give each of {scaling.workers} worker(s) "
                        f"{per_worker}, fewer than one batch of {local_batch}")


def finetune(config: FinetuneConfig) -> dict:
    """Train, write the run's Parquet tables, and return the last epoch's evaluation."""
    config = resolve(config)
    sel, model_cfg, optim = config.selection, config.model, config.optim
    # Preflight: everything that can be wrong with the input fails here, before Ray starts.
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
    init_from = None
    if model_cfg.init_from:
        from lib.train.checkpoint import latest_in_run

        found = latest_in_run(f"{storage}/{model_cfg.init_from}")
        if found is None:
            raise NoInputError(f"--init-from {model_cfg.init_from}: no checkpoint under {storage}")
        init_from = found.path
    for images in (source, val) if val is not None else (source,):
        images.preflight()  # decodes folder images: the slow check goes last

    save_config(storage, run, config)
    scaling = config.scaling
    store = MetricsStore(storage, run)
    identity = RunIdentity(storage, run, JOB, "finetune", config_hash(config))
    record = RunRecord(store, {"run": run, "job": JOB, "method": "finetune",
                               "config_hash": identity.config_hash, "workers": scaling.workers,
                               "replicas": scaling.workers * local_replicas(scaling)},
                       asdict(config))  # its clock starts here: wall time covers extraction
    init_ray(config.run.address, local_cpus=scaling.workers * scaling.cpus_per_worker + 1)
    import ray

    record.resources = ray.cluster_resources()
    record.write("running")
    try:
        train_data, val_data, shape, feature_shape = training_data(config, source, val,
                                                                   top_blocks == 0)
        plan = WorkerPlan(
            model=ModelPlan(model_cfg.weights, tuple(shape), sel.image_size, model_cfg.feature_layer,
                            top_blocks, len(source.class_names), feature_shape, init_from),
            identity=identity, epochs=optim.epochs, batch_size=optim.batch_size,
            learning_rate=optim.learning_rate, precision=optim.precision, seed=sel.seed,
            cpu_devices=1 if scaling.gpus_per_worker else scaling.cpu_replicas_per_worker,
            threads=scaling.cpus_per_worker,
            collective_timeout_s=config.failure.collective_timeout_s,
            class_names=source.class_names,
            eval_splits=(("val", config.val),) if val_data is not None else (),
        )
        datasets = {"source": train_data} | ({"val": val_data} if val_data is not None else {})
        fit(train_worker, {"plan": plan}, datasets, ["source"], scaling, run, storage,
            config.failure)
    except BaseException as e:
        record.write("failed", len(store.files("epochs")), message=str(e)[:2000])
        raise
    record.write("completed", len(store.files("epochs")))
    evals = store.read("evals").to_pylist()
    last = max(evals, key=lambda r: r["epoch"]) if evals else None
    if last:
        print(f"{run}: epoch {last['epoch']} {last['split']} accuracy {last['accuracy']:.4f}")
    return last or {}


def training_data(config: FinetuneConfig, source, val, frozen: bool):
    """Ray Datasets the workers read: cached backbone features on the frozen-base fast
    path, else preprocessed images. (train, val or None, image shape, feature shape)."""
    sel, model_cfg = config.selection, config.model
    source_ds, shape = source.load()
    val_ds = val.load()[0] if val else None
    if not (frozen and model_cfg.feature_cache):
        # Preprocessed once and kept in the object store: epochs only stream it, so the feed
        # takes no CPU from training (on a 2-core machine that was 14% of step time).
        return (model_ready(source_ds, shape).materialize(),
                model_ready(val_ds, shape).materialize() if val_ds is not None else None,
                shape, None)
    from lib.train.features import cached_features, to_feature_batch

    def features(ds):
        feats, fshape = cached_features(
            ds, shape, content_checksum(ds), weights=model_cfg.weights,
            image_size=sel.image_size, feature_layer=model_cfg.feature_layer,
            precision=config.optim.precision, storage=config.run.storage,
            actors=config.scaling.workers)
        return feats.map_batches(to_feature_batch, batch_format="pyarrow",
                                 fn_kwargs={"shape": fshape}), fshape

    train, feature_shape = features(source_ds.materialize())
    return train, features(val_ds.materialize())[0] if val_ds is not None else None, shape, \
        feature_shape
