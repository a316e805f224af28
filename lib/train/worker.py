"""The one training loop every Ray Train worker runs, for every job, top to bottom.

Start the strategy, build the job's learner (networks, optimizers, compiled step) under
it, resume from Ray Train's checkpoint if there is one, then per epoch: step
through this worker's shards, sum the epoch's terms over all workers once, and on rank 0
let the learner's judge score the model, write the metrics and report a checkpoint. Every
worker reports (Ray Train's barrier); only rank 0 does I/O.

A learner has: `model` and `optimizers` (what a checkpoint holds), `name`, `domains` (the
training datasets a step reads together), `steps_per_call`, `step(batch, progress)` ->
({term: (sum, count)} on this worker, images fed), `learning_rate()` and
`judge(plan, data)`, rank 0's judge of it. A judge has
`phase` (its name in the run's phases), `start()` -> {table: rows} before the first epoch
and `judge(epoch)` -> Verdict.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

from lib.phases import Phases, write_worker_phases
from lib.train.divergence import Diverged, stops_on_divergence
from lib.train.progress import StepProgress


@dataclass
class Verdict:
    """Rank 0's look at the model after an epoch."""

    columns: dict = field(default_factory=dict)   # more columns of the epoch's row
    reported: dict = field(default_factory=dict)  # more metrics reported to Ray Train
    tables: dict = field(default_factory=dict)    # {table: rows} of this epoch


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The shuffling seed of one worker's epoch: different per epoch and per worker."""
    return seed * 100_003 + epoch * 101 + rank


def start_worker(config):
    """What every worker does first, from a job's config: devices (before any TF op),
    precision, seeds, and the strategy. Returns (strategy, local replicas, rank)."""
    import keras
    import ray.train

    from lib.train.strategy import configure_devices, make_strategy

    scaling = config.scaling
    # With GPUs a worker's replicas are its GPUs; without, its CPU split into logical devices.
    cpu_devices = 1 if scaling.gpus_per_worker else scaling.cpu_replicas_per_worker
    configure_devices(cpu_devices, scaling.cpus_per_worker)
    if config.optim.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(config.data.seed)
    strategy = make_strategy(cpu_devices, config.failure.collective_timeout_s)
    return (strategy, len(strategy.extended.worker_devices),
            ray.train.get_context().get_world_rank())


class WorkerData:
    """This worker's training shards and rank 0's evaluation data: cached features (each
    worker reads its part of the files itself) or Ray Data shards of images. The one
    place that tells the two apart."""

    def __init__(self, plan, domains: tuple[str, ...], rank: int, workers: int,
                 local_batch: int):
        self.plan, self.domains, self.local_batch = plan, domains, local_batch
        self.cached = bool(plan.features)
        if self.cached:
            self.shards = {name: plan.features[name].shard(rank, workers, plan.config.data.seed)
                           for name in domains}
        else:
            self.shards = {name: _dataset_shard(name) for name in domains}
        self._whole = {}

    def _batches(self, name: str, seed: int, stack: int):
        from lib.data.feed import epoch_batches

        if self.cached and stack > 1:
            return self.shards[name].epoch_stacks(self.local_batch, seed, stack)
        batches = self.shards[name].epoch(self.local_batch, seed) if self.cached else \
            epoch_batches(self.shards[name], self.local_batch, shuffle_seed=seed)
        if stack > 1:  # image steps are long: one to a call, streamed from Ray Data
            return ({k: v[None] for k, v in batch.items()} for batch in batches)
        return batches

    def epoch(self, seed: int, stack: int):
        """One epoch's calls: {domain: batch} each, the domains' batches drawn together
        (stacked as (steps, batch, ...) when `stack` > 1)."""
        calls = zip(*(self._batches(name, seed + 50_000 * i, stack)
                      for i, name in enumerate(self.domains)))
        if len(self.domains) > 1:  # zip ends at the shorter: every worker steps as often
            calls = itertools.islice(calls, self.plan.steps_per_epoch)
        return (dict(zip(self.domains, call)) for call in calls)

    def whole(self, name: str):
        """An evaluation split, whole: in memory (cached) or a Ray Data shard of images."""
        if not self.cached:
            return _dataset_shard(name)
        if name not in self._whole:
            self._whole[name] = self.plan.features[name].whole()
        return self._whole[name]

    def sample(self, name: str, domain: str, size: int, seed: int):
        """A random sample of a domain's training rows, in memory: drawn from the cached
        features, or the one the driver drew into the Ray Dataset `name`."""
        from lib.data.feed import InMemoryShard

        if self.cached:
            return self.plan.features[domain].sample(size, seed)
        return InMemoryShard.pulled(_dataset_shard(name))


def _dataset_shard(name: str):
    import ray.train

    return ray.train.get_dataset_shard(name)


def train_epoch(plan, learner, data: WorkerData, epoch: int, seed: int, progress_bar):
    """Step through one epoch: ({term: [sum, count]} on this worker, images fed, the
    first step whose terms were not finite or -1)."""
    sums = defaultdict(lambda: [0.0, 0.0])
    images, steps, first_bad_step = 0, 0, -1
    total_steps = plan.config.optim.epochs * plan.steps_per_epoch
    for batch in data.epoch(seed, learner.steps_per_call):
        progress = (epoch * plan.steps_per_epoch + steps) / max(total_steps, 1)
        terms, fed = learner.step(batch, progress)
        for name, (total, count) in terms.items():
            sums[name][0] += total
            sums[name][1] += count
        if first_bad_step < 0 and not all(math.isfinite(total) for total, _ in terms.values()):
            first_bad_step = steps
        images += fed
        first = batch[learner.domains[0]]["x"]
        steps += len(first) if learner.steps_per_call > 1 else 1  # stacked: (steps, batch, ...)
        progress_bar.update(epoch, steps, plan.steps_per_epoch)
    return sums, images, first_bad_step


def check_finite(learner, means: dict, epoch: int, first_bad_step: int, steps: int) -> None:
    """Raised after the cross-worker sum, so every worker stops at the same point; every
    term is checked, whatever the method calls it."""
    bad = sorted(name for name, value in means.items() if not math.isfinite(value))
    if bad:
        where = f"step {first_bad_step}" if first_bad_step >= 0 else "another worker's step"
        raise Diverged(f"{learner.name}: non-finite loss in epoch {epoch} at {where} of "
                       f"{steps} ({', '.join(bad)}); {learner.remedy}")


@stops_on_divergence
def session_worker(config: dict) -> None:
    entered = time.perf_counter()  # imports included: TensorFlow's is part of the set-up
    import ray.train

    from lib.metrics.store import MetricsStore
    from lib.train import checkpoint
    from lib.train.steps import epoch_totals

    plan = config["plan"]
    strategy, local_replicas, rank = start_worker(plan.config)
    with strategy.scope():
        learner = plan.learner(plan, strategy, local_replicas)
    start_epoch = 0
    resume_from = ray.train.get_checkpoint()
    if resume_from is not None:
        start_epoch = checkpoint.restore(resume_from, learner.model,
                                         learner.optimizers)["epoch"] + 1
    elif plan.init_from is not None:
        checkpoint.take_shared_weights(ray.train.Checkpoint(plan.init_from), learner.model)
    data = WorkerData(plan, learner.domains, rank, ray.train.get_context().get_world_size(),
                      plan.config.optim.batch_size * local_replicas)
    row_id, store, judge = plan.identity.row(), None, None
    steps_done = StepProgress(plan.identity.storage, plan.identity.run,
                              plan.live_progress and rank == 0)
    phases = Phases()
    if rank == 0:
        store = MetricsStore(plan.identity.storage, plan.identity.run)
        judge = learner.judge(plan, data)
    phases.add("worker set-up (TensorFlow, networks, data into memory)",
               time.perf_counter() - entered)
    if rank == 0 and start_epoch == 0:  # where the model starts from, before any step
        with phases.timed(judge.phase):
            tables = judge.start()
        with phases.timed("metrics and checkpoint writes"):
            for table, rows in tables.items():
                store.write(table, [row_id | r for r in rows], epoch=-1)

    for epoch in range(start_epoch, plan.config.optim.epochs):
        started = time.perf_counter()
        sums, images, first_bad_step = train_epoch(
            plan, learner, data, epoch, epoch_seed(plan.config.data.seed, epoch, rank),
            steps_done)
        totals = epoch_totals(strategy, sums | {"images": [images, 0.0]}, local_replicas)
        images = totals.pop("images")[0]
        means = {name: total / count for name, (total, count) in totals.items()}
        check_finite(learner, means, epoch, first_bad_step, plan.steps_per_epoch)
        seconds = time.perf_counter() - started
        phases.add("training steps", seconds)
        metrics = {"epoch": epoch, "loss": means.pop("loss"), "accuracy": means.pop("accuracy"),
                   "images_per_s": images / seconds, "epoch_seconds": seconds,
                   "learning_rate": learner.learning_rate()}
        if rank == 0:
            with phases.timed(judge.phase):
                verdict = judge.judge(epoch)
            with phases.timed("metrics and checkpoint writes"):
                store.write("epochs", [row_id | metrics | {"terms": means} | verdict.columns],
                            epoch=epoch)
                for table, rows in verdict.tables.items():
                    store.write(table, [row_id | r for r in rows], epoch=epoch)
                with checkpoint.saved(learner.model, learner.optimizers, epoch,
                                      checkpoint.describing(plan)) as saved:
                    ray.train.report(metrics | means | verdict.reported, checkpoint=saved)
        else:
            ray.train.report(metrics | means, checkpoint=None)
    if rank == 0:
        write_worker_phases(plan.identity.storage, plan.identity.run, phases.seconds)
