"""`raydapt finetune`: the transfer-learning job (VGG16 backbone + classic head).

A training session (lib/train/session.py) whose learner is the degenerate method: one
label loss on the source, judged by validation accuracy."""

from __future__ import annotations

from lib.config import FinetuneConfig
from lib.data.classes import check_same_classes, parse_class_list
from lib.data.images import plan_images
from lib.data.uri import parse_uri
from lib.models import ModelPlan, build_model, parse_trainable, weights_identity
from lib.train.capacity import check_enough_rows
from lib.train.inputs import load_for_workers, plan_feature_cache
from lib.train.session import Setup, train_and_evaluate
from lib.train.worker import Verdict

JOB = "finetune"
# Steps per tf.function call on cached features (images: one). A head's step is so small
# that the call dominates: 1.9 ms a step with one call each, 1.2 ms with 100 to a call (bench,
# 2,560 images, block5_pool). 100 stacked batches of 32 block-4 features are ~26 MB.
STEPS_PER_CALL = 100


class Classifier:
    """The learner: the backbone and the classic head, one Adam, the label loss."""

    name = "finetune"
    domains = ("source",)
    steps_per_call = STEPS_PER_CALL
    remedy = "lower --learning-rate"

    def __init__(self, plan, strategy, local_replicas: int):
        import keras

        from lib.train.steps import make_train_steps

        optim = plan.config.optim
        self.strategy, self.local_replicas, self.rate = strategy, local_replicas, optim.learning_rate
        self.model = build_model(ModelPlan(
            plan.config.model.weights, plan.image_shape, plan.config.data.image_size,
            plan.config.model.feature_layer, parse_trainable(plan.config.model.trainable),
            len(plan.class_names), plan.feature_shape))
        optimizer = keras.optimizers.Adam(optim.learning_rate)
        optimizer.build(self.model.trainable_variables)
        self.optimizers = [optimizer]
        self.train_steps = make_train_steps(strategy, self.model, optimizer,
                                            optim.batch_size * strategy.num_replicas_in_sync,
                                            optim.augment)

    def step(self, batch: dict, progress: float):
        import tensorflow as tf

        from lib.train.strategy import distribute_batch

        stack = batch["source"]
        sums = self.train_steps(distribute_batch(self.strategy, (stack["x"], stack["label"]),
                                                 self.local_replicas, axis=1),
                                tf.constant(len(stack["label"])))
        n = float(stack["label"].size)
        return {"loss": (float(sums[0]), n), "accuracy": (float(sums[1]), n)}, n

    def learning_rate(self) -> float:
        return self.rate

    def judge(self, plan, data) -> Validation:
        return Validation(plan, self, data)


class Validation:
    """The judge: accuracy on the validation split."""

    phase = "evaluation"

    def __init__(self, plan, learner: Classifier, data):
        from lib.train.steps import make_predict

        self.plan, self.data, self.predict = plan, data, make_predict(learner.model)

    def start(self) -> dict:
        return {}

    def judge(self, epoch: int) -> Verdict:
        from lib.data.feed import InMemoryShard
        from lib.train.steps import evaluate

        evals = []
        for name, dataset in self.plan.eval_splits:
            split = self.data.whole(name)
            batches = split.batches(256) if isinstance(split, InMemoryShard) else \
                split.iter_batches(batch_size=256, batch_format="numpy")
            evals.append(evaluate(self.predict, batches, len(self.plan.class_names))
                         | {"epoch": epoch, "split": name, "dataset": dataset,
                            "class_names": list(self.plan.class_names)})
        return Verdict(reported={f"{row['split']}_accuracy": row["accuracy"] for row in evals},
                       tables={"evals": evals} if evals else {})


def preflight(config: FinetuneConfig):
    """What can be wrong with the input and needs no pixels fails here, before Ray
    starts; the images are checked as Ray starts (the session's check)."""
    sel, model_cfg, optim = config.data, config.model, config.optim
    options = {"limit_per_class": sel.limit_per_class, "classes": parse_class_list(sel.classes),
               "seed": sel.seed, "image_size": sel.image_size}
    source = plan_images(parse_uri(config.source), None, **options)
    val = plan_images(parse_uri(config.val), None, **options) if config.val else None
    if val is not None:
        check_same_classes(source.class_names, val.class_names)
    parse_trainable(model_cfg.trainable)
    weights_identity(model_cfg.weights)
    check_enough_rows(source.num_rows, config.scaling, optim.batch_size, config.source)
    plans = {"source": source} | ({"val": val} if val is not None else {})
    # A cached output is of the unaugmented image: --augment trains on images.
    cache = None if optim.augment else plan_feature_cache(
        model_cfg, sel.image_size, optim.precision, config.run.storage, config.scaling.workers)
    return config, Setup(
        learner=Classifier, method="finetune", reads_target_labels=False,
        header=f"finetune {config.run.run_name}: {source.num_rows:,} training images, "
               f"trainable {model_cfg.trainable}, {optim.epochs} epochs"
               + (f"; val {val.num_rows:,}" if val is not None else ""),
        plans=plans, domains=("source",),
        eval_splits=(("val", config.val),) if val is not None else (), cache=cache,
        # The frozen blocks' cached outputs' files (lib/train/features.FeatureFiles), or
        # with no cache Ray Datasets of preprocessed images.
        load=lambda: load_for_workers(plans, cache=cache, shuffle_seed=sel.seed),
        # The model is the best validation epoch's; without --val, the last.
        keep=("val_accuracy", "max") if val is not None else None, finish=last_evaluation)


def last_evaluation(store, identity, phases) -> tuple[str, dict | None]:
    evals = store.read("evals").to_pylist()
    return identity.run, max(evals, key=lambda r: r["epoch"]) if evals else None


def finetune(config: FinetuneConfig) -> dict:
    """Train, write the run's Parquet tables, and return the last epoch's evaluation."""
    _, (run, last) = train_and_evaluate(config, JOB, preflight)
    if last:
        print(f"{run}: epoch {last['epoch']} {last['split']} accuracy {last['accuracy']:.4f}")
    return last or {}
