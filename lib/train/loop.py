"""The training loop each Ray Train worker runs, top to bottom.

Build the model under MultiWorkerMirroredStrategy, resume from Ray Train's checkpoint if
there is one, then per epoch: step through this worker's shard, sum the epoch's numbers
over all workers once, and on rank 0 evaluate, write the metrics files and report a
checkpoint. Every worker reports (Ray Train's barrier); only rank 0 does I/O.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from lib.phases import Phases, write_worker_phases
from lib.train.divergence import Diverged, stops_on_divergence
from lib.train.progress import StepProgress

# Steps per tf.function call on cached features (images: one). A head's step is so small
# that the call dominates: 1.9 ms a step with one call each, 1.2 ms with 100 to a call (bench, 2,560
# images, block5_pool). 100 stacked batches of 32 block-4 features are ~26 MB.
STEPS_PER_CALL = 100


@dataclass(frozen=True)
class ModelPlan:
    weights: str
    native_shape: tuple[int, int, int]
    image_size: int
    feature_layer: str
    top_blocks: int                 # conv blocks that train; 0 = frozen base
    num_classes: int
    feature_shape: tuple[int, ...] | None = None  # set: inputs are cached frozen-block outputs
    init_from: str | None = None    # a checkpoint path to take weights (not optimizer) from


@dataclass(frozen=True)
class RunIdentity:
    """Which run a row belongs to: every metrics row starts with `row()`."""

    storage: str
    run: str
    job: str
    method: str
    reads_target_labels: bool      # true only for oracle runs: never a real result
    config_hash: str
    workers: int
    replicas: int

    def row(self) -> dict:
        return {"run": self.run, "job": self.job, "method": self.method,
                "reads_target_labels": self.reads_target_labels,
                "config_hash": self.config_hash, "workers": self.workers,
                "replicas": self.replicas}


@dataclass(frozen=True)
class TrainPlan:
    """What finetune's workers get: the job's config as the user set it, and what the
    driver derived from it and the data."""

    config: object                  # lib.config.FinetuneConfig
    model: ModelPlan
    identity: RunIdentity
    class_names: tuple[str, ...]
    eval_splits: tuple[tuple[str, str], ...]  # (name the workers read it by, what it is)
    steps_per_epoch: int = 0        # about: Ray Data's shards may differ by a batch
    live_progress: bool = False     # the driver's console is a terminal: rank 0 reports steps
    # With cached features: what the workers read themselves, by dataset name (no Ray
    # Data then: lib/train/features.FeatureFiles).
    features: dict = field(default_factory=dict)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The shuffling seed of one worker's epoch: different per epoch and per worker."""
    return seed * 100_003 + epoch * 101 + rank


def build_model(plan: ModelPlan):
    from lib.models import backbone_tail, classic_head, classifier, feature_extractor, set_trainable

    if plan.feature_shape is not None:
        extractor = backbone_tail(plan.weights, plan.feature_shape, plan.image_size,
                                  plan.feature_layer, plan.top_blocks)
    else:
        extractor = feature_extractor(plan.weights, plan.native_shape, plan.image_size,
                                      plan.feature_layer)
        set_trainable(extractor, plan.top_blocks)
    return classifier(extractor, classic_head(extractor.output.shape[1:], plan.num_classes))


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


@stops_on_divergence
def train_worker(config: dict) -> None:
    entered = time.perf_counter()  # imports included: TensorFlow's is part of the set-up
    import keras
    import ray.train
    import tensorflow as tf

    from lib.data.feed import InMemoryShard, epoch_batches
    from lib.metrics.store import MetricsStore
    from lib.train import checkpoint
    from lib.train.steps import evaluate, global_sum, make_predict, make_train_steps
    from lib.train.strategy import distribute_batch

    plan: TrainPlan = config["plan"]
    optim = plan.config.optim
    strategy, local_replicas, rank = start_worker(plan.config)
    global_batch = optim.batch_size * strategy.num_replicas_in_sync

    with strategy.scope():
        model = build_model(plan.model)
        optimizer = keras.optimizers.Adam(optim.learning_rate)
        optimizer.build(model.trainable_variables)
    start_epoch = 0
    resume_from = ray.train.get_checkpoint()
    if resume_from is not None:
        start_epoch = checkpoint.restore(resume_from, model, optimizer)["epoch"] + 1
    elif plan.model.init_from is not None:
        checkpoint.take_shared_weights(ray.train.Checkpoint(plan.model.init_from), model)
    train_steps = make_train_steps(strategy, model, optimizer, global_batch, optim.augment)
    predict = make_predict(model)
    in_memory = {}
    if plan.features:  # each worker reads its part of the cached features itself
        workers = ray.train.get_context().get_world_size()
        shard = plan.features["source"].shard(rank, workers, plan.config.data.seed)
    else:
        shard = ray.train.get_dataset_shard("source")

    def eval_batches(name):
        if not plan.features:
            return ray.train.get_dataset_shard(name).iter_batches(batch_size=256,
                                                                  batch_format="numpy")
        if name not in in_memory:
            in_memory[name] = plan.features[name].whole()
        return in_memory[name].batches(256)

    store = MetricsStore(plan.identity.storage, plan.identity.run) if rank == 0 else None
    row_id = plan.identity.row()
    steps_done = StepProgress(plan.identity.storage, plan.identity.run,
                              plan.live_progress and rank == 0)
    phases = Phases()
    phases.add("worker set-up (TensorFlow, model, data into memory)",
               time.perf_counter() - entered)

    for epoch in range(start_epoch, optim.epochs):
        started = time.perf_counter()
        loss_sum = correct = seen = 0.0
        seed = epoch_seed(plan.config.data.seed, epoch, rank)
        local_batch = optim.batch_size * local_replicas
        if isinstance(shard, InMemoryShard):
            stacks = shard.epoch_stacks(local_batch, seed, STEPS_PER_CALL)
        else:  # image steps are long: one per call, streamed from Ray Data
            stacks = ({k: batch[k][None] for k in ("x", "label")}
                      for batch in epoch_batches(shard, local_batch, shuffle_seed=seed))
        for stack in stacks:
            sums = train_steps(distribute_batch(strategy, (stack["x"], stack["label"]),
                                                local_replicas, axis=1),
                               tf.constant(len(stack["label"])))
            loss_sum += float(sums[0])
            correct += float(sums[1])
            seen += stack["label"].size
            steps_done.update(epoch, round(seen / local_batch), plan.steps_per_epoch)
        loss_sum, correct, seen = global_sum(strategy, [loss_sum, correct, seen], local_replicas)
        if not math.isfinite(loss_sum):  # checked after the sum, so every worker stops
            raise Diverged(f"training loss is {loss_sum} in epoch {epoch}")
        seconds = time.perf_counter() - started
        phases.add("training steps", seconds)
        metrics = {"epoch": epoch, "loss": loss_sum / seen, "accuracy": correct / seen,
                   "images_per_s": seen / seconds, "epoch_seconds": seconds}
        if rank == 0:
            epoch_row = row_id | metrics | {"learning_rate": optim.learning_rate}
            evals = []
            with phases.timed("evaluation"):
                for name, dataset in plan.eval_splits:
                    result = evaluate(predict, eval_batches(name), len(plan.class_names))
                    evals.append(row_id | result | {"epoch": epoch, "split": name,
                                                    "dataset": dataset,
                                                    "class_names": list(plan.class_names)})
                    metrics[f"{name}_accuracy"] = result["accuracy"]
            with phases.timed("metrics and checkpoint writes"):
                store.write("epochs", [epoch_row], epoch=epoch)
                if evals:
                    store.write("evals", evals, epoch=epoch)
                with checkpoint.saved(model, optimizer, epoch,
                                      checkpoint.describing(plan)) as saved:
                    ray.train.report(metrics, checkpoint=saved)
        else:
            ray.train.report(metrics, checkpoint=None)
    if rank == 0:
        write_worker_phases(plan.identity.storage, plan.identity.run, phases.seconds)
