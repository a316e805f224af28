"""The adaptation loop each Ray Train worker runs, top to bottom.

Like the finetune loop (lib/train/loop.py): build under MultiWorkerMirroredStrategy,
resume from Ray Train's checkpoint, then per epoch step through this worker's source
and target shards together, sum the epoch's numbers over all workers once, and on rank
0 evaluate, score the selection criteria, write the metrics and report a checkpoint.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

from lib.adapt.networks import NetworkPlan
from lib.phases import Phases, write_worker_phases
from lib.train.divergence import Diverged, stops_on_divergence
from lib.train.loop import RunIdentity
from lib.train.progress import StepProgress


@dataclass(frozen=True)
class AdaptPlan:
    """What adapt's workers get: the job's config as the user set it (after --resume and
    defaults), and what the driver derived from it and the data."""

    config: object                  # lib.config.AdaptConfig
    network: NetworkPlan
    identity: RunIdentity
    init_from: str | None           # a checkpoint path to take weights (not optimizer) from
    steps_per_epoch: int            # equal on every worker: collectives must match
    class_names: tuple[str, ...]
    eval_splits: tuple[tuple[str, str], ...]  # (name the workers read it by, what it is)
    live_progress: bool = False     # the driver's console is a terminal: rank 0 reports steps
    # With cached features: what the workers read themselves, by dataset name (no Ray
    # Data then: lib/train/features.FeatureFiles).
    features: dict = field(default_factory=dict)


def epoch_totals(strategy, local: dict, local_replicas: int) -> dict[str, tuple[float, float]]:
    """{term: (sum, count)} over every worker from this worker's {term: [sum, count]}, in
    one collective."""
    from lib.train.steps import global_sum

    keys = sorted(local)
    flat = global_sum(strategy, [v for k in keys for v in local[k]], local_replicas)
    return {k: (flat[2 * i], flat[2 * i + 1]) for i, k in enumerate(keys)}


@stops_on_divergence
def adapt_worker(config: dict) -> None:
    entered = time.perf_counter()  # imports included: TensorFlow's is part of the set-up
    import keras
    import ray.train
    import tensorflow as tf

    from lib.adapt.data import judged_splits
    from lib.adapt.judge import EpochJudge
    from lib.adapt.methods import get_method
    from lib.adapt.networks import Networks
    from lib.adapt.schedules import annealed_rate
    from lib.adapt.step import make_adapt_step
    from lib.data.feed import epoch_batches
    from lib.metrics.store import MetricsStore
    from lib.train import checkpoint
    from lib.train.loop import epoch_seed, start_worker
    from lib.train.steps import local_sum
    from lib.train.strategy import distribute_batch

    plan: AdaptPlan = config["plan"]
    cfg = plan.config
    optim = cfg.optim
    strategy, local_replicas, rank = start_worker(cfg)
    global_batch = optim.batch_size * strategy.num_replicas_in_sync
    local_batch = optim.batch_size * local_replicas
    method = get_method(cfg.adapt.method, cfg.adapt.method_opt)
    total_steps = optim.epochs * plan.steps_per_epoch

    with strategy.scope():
        nets = Networks(plan.network, method)
        optimizer = keras.optimizers.Adam(annealed_rate(
            optim.learning_rate, cfg.adapt.lr_alpha, cfg.adapt.lr_beta, total_steps))
        optimizer.build(nets.trainable_variables)
    start_epoch = 0
    resume_from = ray.train.get_checkpoint()
    if resume_from is not None:
        start_epoch = checkpoint.restore(resume_from, nets.whole, optimizer)["epoch"] + 1
    elif plan.init_from is not None:
        checkpoint.take_shared_weights(ray.train.Checkpoint(plan.init_from), nets.whole)
    step = make_adapt_step(strategy, nets, optimizer, method, global_batch)

    cached = bool(plan.features)
    if cached:  # each worker reads its part of the cached features itself
        workers = ray.train.get_context().get_world_size()
        shards = {name: plan.features[name].shard(rank, workers, cfg.data.seed)
                  for name in ("source", "target")}
    else:
        shards = {name: ray.train.get_dataset_shard(name) for name in ("source", "target")}

    def batches(name: str, seed: int):
        if cached:
            return shards[name].epoch(local_batch, seed)
        return epoch_batches(shards[name], local_batch, shuffle_seed=seed)

    row_id = plan.identity.row()
    store = judge = None
    steps_done = StepProgress(plan.identity.storage, plan.identity.run,
                              plan.live_progress and rank == 0)
    phases = Phases()
    if rank == 0:
        store = MetricsStore(plan.identity.storage, plan.identity.run)
        judge = EpochJudge(nets, judged_splits(plan), plan.class_names,
                           embedding_samples=cfg.adapt.embedding_samples)
    phases.add("worker set-up (TensorFlow, networks, data into memory)",
               time.perf_counter() - entered)
    if rank == 0 and start_epoch == 0:  # the backbone's own domain gap: where it starts from
        with phases.timed("evaluation and selection scores"):
            distance, embeddings = judge.start()
        with phases.timed("metrics and checkpoint writes"):
            store.write("domain_distance", [row_id | distance], epoch=-1)
            if embeddings:
                store.write("embeddings", [row_id | r for r in embeddings], epoch=-1)

    for epoch in range(start_epoch, optim.epochs):
        started = time.perf_counter()
        sums = defaultdict(lambda: [0.0, 0.0])
        images = 0
        first_bad_step = -1
        seed = epoch_seed(cfg.data.seed, epoch, rank)
        pairs = zip(batches("source", seed), batches("target", seed + 50_000))
        for k, (source, target) in enumerate(itertools.islice(pairs, plan.steps_per_epoch)):
            progress = (epoch * plan.steps_per_epoch + k) / total_steps
            target_arrays = (target["x"], target["label"]) if method.reads_target_labels \
                else (target["x"],)
            parts = distribute_batch(strategy, (source["x"], source["label"], *target_arrays),
                                     local_replicas)
            terms = step(tuple(parts[:2]), tuple(parts[2:]), tf.constant(progress, tf.float32))
            finite = True
            for name, (total, count) in terms.items():
                value = local_sum(strategy, total)
                sums[name][0] += value
                sums[name][1] += local_sum(strategy, count)
                finite = finite and math.isfinite(value)
            fed = {"source": source, "target": target}
            images += sum(len(fed[name]["x"]) for name in method.inputs)
            steps_done.update(epoch, k + 1, plan.steps_per_epoch)
            if first_bad_step < 0 and not finite:
                first_bad_step = k
        totals = epoch_totals(strategy, sums | {"images": [images, 0.0]}, local_replicas)
        images = totals.pop("images")[0]
        means = {name: total / count for name, (total, count) in totals.items()}
        # Raised after the cross-worker sum, so every worker stops at the same point; every
        # term is checked, whatever the method calls it.
        bad = sorted(name for name, value in means.items() if not math.isfinite(value))
        if bad:
            where = f"step {first_bad_step}" if first_bad_step >= 0 else "another worker's step"
            raise Diverged(
                f"{method.name}: non-finite loss in epoch {epoch} at {where} of "
                f"{plan.steps_per_epoch} ({', '.join(bad)}); lower --learning-rate or the "
                f"method's weights (--method-opt)")
        seconds = time.perf_counter() - started
        phases.add("training steps", seconds)
        metrics = {
            "epoch": epoch, "loss": means.pop("loss"), "accuracy": means.pop("accuracy"),
            "images_per_s": images / seconds, "epoch_seconds": seconds,
            "learning_rate": float(optimizer.learning_rate.numpy()),
        }
        if rank == 0:
            with phases.timed("evaluation and selection scores"):
                verdict = judge.judge(epoch)
            with phases.timed("metrics and checkpoint writes"):
                store.write("epochs", [row_id | metrics | {"terms": means} | verdict.criteria],
                            epoch=epoch)
                store.write("evals", [row_id | r for r in verdict.evals(plan.eval_splits)],
                            epoch=epoch)
                store.write("domain_distance", [row_id | verdict.distance], epoch=epoch)
                if verdict.embeddings:
                    store.write("embeddings", [row_id | r for r in verdict.embeddings],
                                epoch=epoch)
                accuracies = {f"{name}_accuracy": score["accuracy"]
                              for name, score in verdict.scores.items()}
                with checkpoint.saved(nets.whole, optimizer, epoch,
                                      checkpoint.describing(plan)) as saved:
                    ray.train.report(metrics | means | verdict.criteria | accuracies,
                                     checkpoint=saved)
        else:
            ray.train.report(metrics | means, checkpoint=None)
    if rank == 0:
        write_worker_phases(plan.identity.storage, plan.identity.run, phases.seconds)
