"""`raydapt bench`: throughput and MFU of every path, side by side, on this machine.

MFU = achieved FLOP/s / the fp32 matmul peak measured in the same run, with VGG16's
analytic FLOPs (lib/flops.py): a training step counts 3x the forward pass.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import tempfile
import time

from lib.config import (
    BENCH_DEFAULT,
    BENCH_PARTS,
    AdaptConfig,
    AdaptOptimConfig,
    AdaptOptions,
    BenchConfig,
    DataConfig,
    FinetuneConfig,
    FinetuneOptimConfig,
    ModelConfig,
    RunOptions,
    ScalingOptions,
)
from lib.console import captured, duration
from lib.flops import train_step_flops, vgg16_forward_flops
from lib.measurement import Measurement
from lib.metrics.store import MetricsStore
from lib.train.capacity import with_cpus
from lib.train.fitting import fit
from lib.train.rundir import new_run_name, resolve_storage


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{socket.gethostname()}: {model}, {os.cpu_count()} cores"


def peak_matmul_gflops(dtype: str, n: int = 2048, repeats: int = 10) -> float:
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n), dtype=tf.float32), dtype)

    @tf.function
    def chain(x):
        for _ in range(repeats):
            x = tf.matmul(x, a) * tf.cast(1e-3, dtype)
        return x

    chain(a).numpy()
    best = min(_timed(lambda: chain(a).numpy()) for _ in range(5))
    return 2 * n**3 * repeats / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def forward_only(images, image_size: int, batch: int) -> Measurement:
    import tensorflow as tf

    from lib.models import feature_extractor

    model = feature_extractor("none", images.shape[1:], image_size, "block5_pool")
    predict = tf.function(lambda x: model(x, training=False))
    x = tf.constant(images[:batch])
    predict(x).numpy()
    steps = max(3, len(images) // batch)
    seconds = _timed(lambda: [predict(x).numpy() for _ in range(steps)])
    return Measurement("forward only (driver, no Ray)", steps * batch / seconds,
                       vgg16_forward_flops(image_size) / 1e9, seconds, batch_size=batch)


def classic_recipe(images, labels, image_size: int, epochs_measured: int = 2):
    """The tutorial's recipe: frozen VGG16 + head, model.fit, batch 32, the base recomputed
    for every batch of every epoch. Returns (Measurement, seconds per epoch)."""
    import keras

    from lib.models import classic_head, feature_extractor, set_trainable

    extractor = feature_extractor("none", images.shape[1:], image_size, "block5_pool")
    set_trainable(extractor, 0)
    head = classic_head(extractor.output.shape[1:], int(labels.max()) + 1)
    model = keras.Model(extractor.input, head(extractor.output))
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    starts, times = [], []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: starts.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(time.perf_counter() - starts[-1]))
    model.fit(images, labels, batch_size=32, epochs=epochs_measured, verbose=0,
              callbacks=[timer])
    epoch = times[-1]  # the first epoch also traces and compiles
    flops = vgg16_forward_flops(image_size) / 1e9  # frozen base: forward only dominates
    return Measurement("classic recipe: frozen base, model.fit, batch 32", len(images) / epoch,
                       flops, epoch, batch_size=32,
                       note=f"{epoch:.1f} s per epoch of {len(images)} images"), epoch


def adapt_step(name: str, images, labels, image_size: int, batch: int) -> Measurement:
    """One method's adaptation step with the whole backbone training: each step pushes
    `batch` / 2 source and as many target images through the networks; the images its
    losses feed (its `inputs`) count, each through forward and backward. Driver process,
    default strategy, in-memory batches: the step's own cost."""
    import tensorflow as tf

    from lib.adapt.methods import get_method
    from lib.adapt.networks import NetworkPlan, Networks
    from lib.adapt.session import make_adapt_step, make_optimizers

    method = get_method(name)
    adapt_defaults = AdaptOptions()  # the step `raydapt adapt` runs unless told otherwise
    norm = method.normalisation(adapt_defaults.domain_norm)
    nets = Networks(NetworkPlan("none", images.shape[1:], image_size, "block5_pool", 5,
                                int(labels.max()) + 1, adapt_defaults.bottleneck, norm), method)
    step = make_adapt_step(tf.distribute.get_strategy(), nets,
                           make_optimizers(method, nets, 1e-4), method)
    half = batch // 2  # the same images per step as full fine-tuning at --batch-size
    source = (tf.constant(images[:half]), tf.constant(labels[:half]))
    target = (tf.constant(images[half:2 * half]),)
    if method.reads_target_labels:
        target += (tf.constant(labels[half:2 * half]),)
    progress = tf.constant(0.5)
    for _ in range(2):  # trace and warm up
        float(step(source, target, progress)["loss"][0])
    steps = max(3, len(images) // batch)
    seconds = _timed(lambda: [float(step(source, target, progress)["loss"][0])
                              for _ in range(steps)])
    fed = half * len(method.inputs)
    return Measurement(f"{name} step, whole backbone training (driver, no Ray)",
                       steps * fed / seconds,
                       train_step_flops(vgg16_forward_flops(image_size)) / 1e9, seconds,
                       batch_size=fed, note=" + ".join(f"{half} {d}" for d in method.inputs)
                       + " images a step")


def bench_worker(config: dict) -> None:
    """Inside Ray Train: time full fine-tuning steps on one in-memory batch, then on the
    Ray Data feed; the difference is what feeding costs."""
    import keras
    import ray.train

    from lib.data.feed import epoch_batches
    from lib.models import ModelPlan, build_model
    from lib.train.steps import make_train_steps
    from lib.train.strategy import configure_devices, distribute_batch, make_strategy

    configure_devices(1, config["threads"])
    if config["precision"] == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    strategy = make_strategy(1, 300)
    with strategy.scope():
        model = build_model(ModelPlan("none", tuple(config["shape"]), config["image_size"],
                                      "block5_pool", 5, 10))
        optimizer = keras.optimizers.Adam(1e-4)
        optimizer.build(model.trainable_variables)
    local_batch = config["batch"] // strategy.num_replicas_in_sync
    step = make_train_steps(strategy, model, optimizer, config["batch"])  # a stack of one
    warmup = 2  # the first steps trace and compile
    fed_times, first = [], None
    # One whole epoch through the feed (stopping a split epoch half way would stall it).
    for i, batch in enumerate(epoch_batches(ray.train.get_dataset_shard("source"),
                                            local_batch, shuffle_seed=0)):
        start = time.perf_counter()
        float(step(distribute_batch(strategy, (batch["x"][None], batch["label"][None]), 1,
                                    axis=1), 1)[0])
        fed_times.append(time.perf_counter() - start if i >= warmup else 0.0)
        first = first or batch
    steps = len(fed_times) - warmup
    fixed = distribute_batch(strategy, (first["x"][None], first["label"][None]), 1, axis=1)
    in_memory = _timed(lambda: [float(step(fixed, 1)[0]) for _ in range(steps)])
    if ray.train.get_context().get_world_rank() == 0:
        with open(config["out"], "w") as f:
            json.dump({"in_memory": in_memory, "with_feed": sum(fed_times),
                       "images": steps * config["batch"]}, f)


def full_finetuning(source_ds, shape, cfg: BenchConfig, workers: int, precision: str,
                    storage: str, name: str) -> list[Measurement]:
    from lib.data.feed import model_ready

    scaling = with_cpus(ScalingOptions(workers=workers))
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name  # rank 0 of the local workers writes its timings here
    fit(bench_worker,
        {"threads": scaling.cpus_per_worker, "precision": precision, "shape": list(shape),
         "image_size": cfg.image_size, "batch": cfg.batch_size, "out": out},
        {"source": model_ready(source_ds, shape).materialize()},  # as finetune does
        ["source"], scaling, name, storage)
    with open(out) as f:
        timing = json.load(f)
    os.unlink(out)
    gflop = train_step_flops(vgg16_forward_flops(cfg.image_size)) / 1e9
    label = f"full fine-tuning, Ray Train, {workers} worker(s)"
    overhead = timing["with_feed"] / timing["in_memory"] - 1
    return [
        Measurement(label + ", Ray Data feed", timing["images"] / timing["with_feed"], gflop,
                    timing["with_feed"], precision, workers, cfg.batch_size,
                    note=f"feed overhead {overhead:+.1%} of step time"),
        Measurement(label + ", in-memory batch", timing["images"] / timing["in_memory"], gflop,
                    timing["in_memory"], precision, workers, cfg.batch_size),
    ]


def frozen_fast_path(cfg: BenchConfig, storage: str, run: str, classic_epoch: float,
                     num_images: int) -> list[Measurement]:
    """Our frozen-base path end to end (feature extraction in epoch 1), 1 worker."""
    from lib.finetune import finetune

    config = FinetuneConfig(
        source=cfg.source, val=None,
        data=DataConfig(limit_per_class=cfg.images // 10, image_size=cfg.image_size),
        model=ModelConfig(weights="none", trainable="head"),
        optim=FinetuneOptimConfig(epochs=cfg.epochs, batch_size=32),
        scaling=ScalingOptions(workers=1),
        run=RunOptions(storage=storage, run_name=run),
    )
    wall = _timed(lambda: finetune(config))
    epochs = MetricsStore(storage, run).read("epochs").sort_by("epoch").to_pylist()
    later = sum(e["epoch_seconds"] for e in epochs[1:]) / (len(epochs) - 1)
    classic_total = classic_epoch * cfg.epochs
    forward = vgg16_forward_flops(cfg.image_size) / 1e9
    return [
        Measurement(f"frozen-base fast path, {cfg.epochs} epochs end to end (Ray, extraction, "
                    "training)", num_images * cfg.epochs / wall, forward, wall, workers=1,
                    batch_size=32, note=f"{classic_total / wall:.1f}x faster than the classic "
                                        f"recipe's {classic_total:.0f} s"),
        Measurement("frozen-base fast path, one epoch after the first (cached features)",
                    num_images / later, 0.0, later, workers=1, batch_size=32,
                    note=f"{classic_epoch / later:.0f}x less than a classic epoch"),
    ]


def latency(cfg: BenchConfig, storage: str, run: str) -> list[Measurement]:
    """Time to result: a small adapt run (the first images/10 of each class as source and,
    under fog@4, as target; 10 epochs on cached block4 features), twice: the first
    extracts its features, the second reads them. Its wall time, then a row per phase."""
    from lib.adapt.job import adapt

    measured = []
    for attempt, what in ((1, "first run, extracting features"), (2, "features cached")):
        name = f"{run}-latency-{attempt}"
        config = AdaptConfig(
            source=cfg.source, target=cfg.source, target_shift="fog@4",
            source_val=cfg.source, target_test=cfg.source,
            eval_limit_per_class=cfg.images // 10,  # the timing, not the figure, matters
            data=DataConfig(limit_per_class=cfg.images // 10, image_size=cfg.image_size),
            model=ModelConfig(weights="none", feature_layer="block4_pool"),
            optim=AdaptOptimConfig(epochs=cfg.epochs),
            run=RunOptions(storage=storage, run_name=name))
        adapt(config)
        (record,) = MetricsStore(storage, name).read("runs").to_pylist()
        wall, phases = record["wall_seconds"], dict(record["phases"])
        measured.append(Measurement(f"latency, {what}: wall", 0.0, 0.0, wall,
                                    note=f"{wall:.1f} s: a small adapt run, {cfg.epochs} epochs"))
        measured += [Measurement(f"latency, {what}: {phase}", 0.0, 0.0, seconds,
                                 note=f"{seconds:.1f} s, {seconds / wall:.0%} of the wall")
                     for phase, seconds in phases.items()]
    return measured


def _loaded(plan):
    """(the Ray Dataset, image shape, caffe-preprocessed images, labels) of the bench's
    images, in memory."""
    import numpy as np
    import pyarrow as pa
    import ray

    from lib.data.columns import column_to_images
    from lib.data.feed import caffe_preprocess

    raw, shape = plan.load()
    raw = raw.materialize()
    table = pa.concat_tables(ray.get(raw.to_arrow_refs()))
    return (raw, shape, caffe_preprocess(column_to_images(table.column("image"), shape)),
            table.column("label").to_numpy().astype(np.int32))


def adapt_steps(cfg: BenchConfig, images, labels) -> list[Measurement]:
    """Every method's step (or --methods'), each note comparing it with dann's."""
    from lib.adapt.methods import registry

    names = [m.strip() for m in cfg.methods.split(",")] if cfg.methods else list(registry())
    steps = [adapt_step(name, images, labels, cfg.image_size, cfg.batch_size)
             for name in names]  # measured first, so each note can compare with dann
    dann = dict(zip(names, steps)).get("dann")
    for m in steps if dann else ():
        m.note += f"; {m.images_per_s / dann.images_per_s:.2f}x dann's images/s"
    return steps


def in_one_ray(parts: set, cfg: BenchConfig, plan, add, scratch: str, run: str) -> float:
    """The parts that share one Ray and the images in memory; returns the fp32 peak."""
    raw, shape, images, labels = _loaded(plan)
    peak = peak_matmul_gflops("float32")
    add(Measurement("fp32 matmul peak (2048x2048)", 0.0, 0.0, 0.0, note=f"{peak:.0f} GFLOP/s"))
    bf16_peak = peak_matmul_gflops("bfloat16") if cfg.bf16 and "full" in parts else None
    if bf16_peak is not None:
        add(Measurement("bf16 matmul peak (2048x2048)", 0.0, 0.0, 0.0, "bf16",
                        note=f"{bf16_peak:.0f} GFLOP/s"))
    if "forward" in parts:
        add(forward_only(images, cfg.image_size, cfg.batch_size))
    if "classic" in parts:
        classic, classic_epoch = classic_recipe(images, labels, cfg.image_size)
        add(classic)
    if "fastpath" in parts:
        add(*frozen_fast_path(cfg, scratch, f"{run}-fastpath", classic_epoch, len(labels)))
    if "full" in parts:
        for workers in (1, 2):
            add(*full_finetuning(raw, shape, cfg, workers, "fp32", scratch,
                                 f"{run}-full-{workers}w"))
        if bf16_peak is not None:
            add(*full_finetuning(raw, shape, cfg, 1, "bf16", scratch, f"{run}-full-bf16"))
    if "adapt" in parts:
        add(*adapt_steps(cfg, images, labels))
    return peak


def with_own_rays(parts: set, cfg: BenchConfig, add, scratch: str, run: str) -> None:
    """The parts that start and stop Ray themselves, as a user's commands would."""
    if "latency" in parts:
        add(*latency(cfg, scratch, run))
    if "sweep" in parts:
        from lib.sweep.bench import sweep_against_commands

        add(*sweep_against_commands(cfg.source, cfg.images // 10, cfg.epochs,
                                    f"{scratch}/sweep", run))
    if "prepare" in parts:  # a local Ray of 1 CPU, then of 2
        from lib.data.bench import prepare_scaling

        add(*prepare_scaling(cfg.source, cfg.images // 10, f"{scratch}/prepare"))


def bench(cfg: BenchConfig) -> list[dict]:
    from lib.data.images import plan_images
    from lib.data.uri import parse_uri
    from lib.runtime import ray_up

    storage = resolve_storage(cfg.storage)
    run = cfg.run_name or new_run_name("bench")
    scratch = f"{storage}/{run}/scratch"
    plan = plan_images(parse_uri(cfg.source), None, limit_per_class=cfg.images // 10,
                       classes=None, seed=0, image_size=cfg.image_size)
    parts = {p.strip() for p in cfg.only.split(",")} if cfg.only else set(BENCH_DEFAULT)
    if "fastpath" in parts:
        parts.add("classic")  # the fast path is measured against the classic recipe
    where = machine()
    with captured(f"{storage}/{run}/logs", cfg.verbose) as (console, log):
        console.line(f"bench {run} on {where}: {', '.join(p for p in BENCH_PARTS if p in parts)} "
                     f"with {plan.num_rows:,} images; Ray's and TensorFlow's output in {log}")
        started = time.perf_counter()
        results = []

        def add(*measured: Measurement) -> None:
            for m in measured:
                results.append(m)
                rate = f"{m.images_per_s:,.1f} images/s, " if m.images_per_s else ""
                console.line(f"  {m.name}: {rate}{m.note or f'{m.seconds:.1f} s'} "
                             f"[{duration(time.perf_counter() - started)}]")

        with ray_up(local_cpus=(os.cpu_count() or 1) + 1):
            peak = in_one_ray(parts, cfg, plan, add, scratch, run)
        with_own_rays(parts, cfg, add, scratch, run)
    rows = [{
        "run": run, "machine": where, "name": m.name, "precision": m.precision,
        "workers": m.workers, "batch_size": m.batch_size, "images_per_s": m.images_per_s,
        "gflop_per_image": m.gflop_per_image,
        "achieved_gflops": m.images_per_s * m.gflop_per_image,
        "peak_gflops": peak, "mfu": m.images_per_s * m.gflop_per_image / peak,
        "seconds": m.seconds, "note": m.note,
    } for m in results]
    MetricsStore(storage, run).write("bench", rows)
    print_table(rows, where)
    return rows


def print_table(rows: list[dict], where: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("measurement", "precision", "workers", "images/s", "GFLOP/img", "MFU",
                  "seconds", "note", title=f"raydapt bench on {where}")
    for r in rows:
        table.add_row(r["name"], r["precision"], str(r["workers"] or "-"),
                      f"{r['images_per_s']:.1f}" if r["images_per_s"] else "",
                      f"{r['gflop_per_image']:.2f}" if r["gflop_per_image"] else "",
                      f"{r['mfu']:.2f}" if r["mfu"] else "", f"{r['seconds']:.1f}", r["note"])
    Console(width=200).print(table)
