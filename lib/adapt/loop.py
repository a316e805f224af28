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
from dataclasses import dataclass

from lib.adapt.networks import NetworkPlan
from lib.train.loop import RunIdentity

SAMPLE_SPLITS = ("source_sample", "target_sample")


@dataclass(frozen=True)
class AdaptPlan:
    network: NetworkPlan
    identity: RunIdentity
    method: str
    epochs: int
    steps_per_epoch: int            # equal on every worker: collectives must match
    batch_size: int                 # per replica, source and target each
    learning_rate: float
    lr_alpha: float
    lr_beta: float
    lambda_max: float
    lambda_gamma: float
    precision: str
    seed: int
    cpu_devices: int
    threads: int
    collective_timeout_s: float
    class_names: tuple[str, ...]
    embedding_samples: int          # per domain, saved for the report's embedding figure
    eval_splits: tuple[tuple[str, str], ...]  # (dataset name in Ray Train, what it is)


def adapt_worker(config: dict) -> None:
    import keras
    import ray.train
    import tensorflow as tf

    from lib.adapt.judge import EpochJudge
    from lib.adapt.methods import get_method
    from lib.adapt.networks import Networks
    from lib.adapt.schedules import annealed_rate, grl_lambda
    from lib.adapt.step import make_adapt_step
    from lib.data.feed import InMemoryShard, epoch_batches
    from lib.metrics.store import MetricsStore
    from lib.train import checkpoint
    from lib.train.loop import start_worker
    from lib.train.steps import global_sum, local_sum
    from lib.train.strategy import distribute_batch

    plan: AdaptPlan = config["plan"]
    strategy, local_replicas, rank, workers = start_worker(
        plan.cpu_devices, plan.threads, plan.precision, plan.seed, plan.collective_timeout_s)
    global_batch = plan.batch_size * strategy.num_replicas_in_sync
    local_batch = plan.batch_size * local_replicas
    method = get_method(plan.method)
    total_steps = plan.epochs * plan.steps_per_epoch

    with strategy.scope():
        nets = Networks(plan.network, method.inputs)
        optimizer = keras.optimizers.Adam(annealed_rate(
            plan.learning_rate, plan.lr_alpha, plan.lr_beta, total_steps))
        optimizer.build(nets.trainable_variables)
    start_epoch = 0
    resume_from = ray.train.get_checkpoint()
    if resume_from is not None:
        start_epoch = checkpoint.restore(resume_from, nets.whole, optimizer)["epoch"] + 1
    step = make_adapt_step(strategy, nets, optimizer, method, global_batch)

    cached = plan.network.feature_shape is not None
    shards = {name: ray.train.get_dataset_shard(name) for name in ("source", "target")}
    if cached:
        shards = {name: InMemoryShard(shard) for name, shard in shards.items()}

    def batches(name: str, seed: int):
        if cached:
            return shards[name].epoch(local_batch, seed)
        return epoch_batches(shards[name], local_batch, shuffle_seed=seed)

    ident = plan.identity
    row_id = {"run": ident.run, "job": ident.job, "method": ident.method,
              "reads_target_labels": method.reads_target_labels,
              "config_hash": ident.config_hash, "workers": workers,
              "replicas": strategy.num_replicas_in_sync}
    store = judge = None
    if rank == 0:
        store = MetricsStore(ident.storage, ident.run)
        judge = EpochJudge(nets, {name: ray.train.get_dataset_shard(name)
                                  for name in (*SAMPLE_SPLITS, *(n for n, _ in plan.eval_splits))},
                           plan.class_names, in_memory=cached,
                           embedding_samples=plan.embedding_samples)
        if start_epoch == 0:  # the backbone's own domain gap: what adaptation starts from
            distance, embeddings = judge.start()
            store.write("domain_distance", [row_id | distance], epoch=-1)
            if embeddings:
                store.write("embeddings", [row_id | r for r in embeddings], epoch=-1)

    for epoch in range(start_epoch, plan.epochs):
        started = time.perf_counter()
        sums = defaultdict(float)
        first_bad_step = -1
        seed = plan.seed * 100_003 + epoch * 101 + rank
        pairs = zip(batches("source", seed), batches("target", seed + 50_000))
        lam = 0.0
        for k, (source, target) in enumerate(itertools.islice(pairs, plan.steps_per_epoch)):
            global_step = epoch * plan.steps_per_epoch + k
            lam = grl_lambda(global_step / total_steps, plan.lambda_max, plan.lambda_gamma)
            target_arrays = (target["x"], target["label"]) if method.reads_target_labels \
                else (target["x"],)
            parts = distribute_batch(strategy, (source["x"], source["label"], *target_arrays),
                                     local_replicas)
            # A tensor, not a float: a new Python value would retrace the step every call.
            per_replica = step(tuple(parts[:2]), tuple(parts[2:]), tf.constant(lam, tf.float32))
            for key, value in per_replica.items():
                sums[key] += local_sum(strategy, value)
            fed = {"source": source, "target": target}
            sums["images"] += sum(len(fed[name]["x"]) for name in method.inputs)
            if first_bad_step < 0 and not math.isfinite(sums["loss_sum"]
                                                        + sums.get("domain_loss_sum", 0.0)):
                first_bad_step = k
        keys = sorted(sums)
        totals = dict(zip(keys, global_sum(strategy, [sums[k] for k in keys], local_replicas)))
        # Raised after the cross-worker sum, so every worker stops at the same point.
        if not math.isfinite(totals["loss_sum"] + totals.get("domain_loss_sum", 0.0)):
            where = f"step {first_bad_step}" if first_bad_step >= 0 else "another worker's step"
            raise FloatingPointError(
                f"{plan.method}: non-finite loss in epoch {epoch} at {where} of "
                f"{plan.steps_per_epoch} (lambda {lam:.3f}); lower --learning-rate or "
                f"--lambda-max")
        seconds = time.perf_counter() - started
        adversarial = "domain_loss_sum" in totals
        metrics = {
            "epoch": epoch, "loss": totals["loss_sum"] / totals["examples"],
            "accuracy": totals["correct"] / totals["examples"],
            "images_per_s": totals["images"] / seconds, "epoch_seconds": seconds,
            "learning_rate": float(optimizer.learning_rate.numpy()),
            "domain_loss": totals["domain_loss_sum"] / totals["domain_examples"]
            if adversarial else None,
            "domain_accuracy": totals["domain_correct"] / totals["domain_examples"]
            if adversarial else None,
            "grl_lambda": lam if adversarial else None,
        }
        if rank == 0:
            verdict = judge.judge(epoch)
            store.write("epochs", [row_id | metrics | verdict.criteria], epoch=epoch)
            store.write("evals", [row_id | r for r in verdict.evals(plan.eval_splits)],
                        epoch=epoch)
            store.write("domain_distance", [row_id | verdict.distance], epoch=epoch)
            if verdict.embeddings:
                store.write("embeddings", [row_id | r for r in verdict.embeddings], epoch=epoch)
            with checkpoint.saved(nets.whole, optimizer, epoch) as saved:
                ray.train.report(metrics | verdict.criteria, checkpoint=saved)
        else:
            ray.train.report(metrics, checkpoint=None)
