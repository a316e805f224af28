"""The adapt job's side of the training session (lib/train/worker.py): its learner is a
method (lib/adapt/method.py) over the shared networks, its optimizers and one compiled
step whatever the method; its judge (lib/adapt/judge.py) scores the evaluation splits and
the label-free selection criteria after every epoch."""

from __future__ import annotations

from functools import partial

from lib.adapt.data import SAMPLES


def make_optimizers(method, nets, learning_rate) -> dict:
    """{group: (Adam, its variables)} of the method's parameter groups: each group's rate
    is `learning_rate` (a float or a Keras schedule) times the group's multiplier."""
    import keras

    from lib.adapt.schedules import scaled_rate

    optimizers = {}
    updates = method.updates_per_step()
    for group, (variables, multiplier) in method.parameter_groups(nets).items():
        optimizer = keras.optimizers.Adam(scaled_rate(learning_rate, multiplier,
                                                      updates.get(group, 1)))
        optimizer.build(variables)
        optimizers[group] = (optimizer, list(variables))
    return optimizers


def make_adapt_step(strategy, nets, optimizers: dict, method):
    """A tf.function: every replica runs the method's update on its share of the source
    and target batches (Keras' optimizers sum the gradients over replicas). Returns the
    method's per-replica terms. `progress` is a float32 tensor (a new Python value would
    retrace the step every call)."""
    import tensorflow as tf

    @tf.function
    def step(source, target, progress):
        return strategy.run(partial(method.update, nets, optimizers),
                            args=(source, target, progress))

    return step


class MethodLearner:
    """A method's networks, optimizers and compiled step, as the session's loop sees them."""

    domains = ("source", "target")
    steps_per_call = 1
    remedy = "lower --learning-rate or the method's weights (--method-opt)"

    def __init__(self, plan, strategy, local_replicas: int, method):
        from lib.adapt.networks import NetworkPlan, Networks
        from lib.adapt.schedules import annealed_rate
        from lib.models import parse_trainable

        cfg = plan.config
        self.method, self.name = method, method.name
        self.strategy, self.local_replicas = strategy, local_replicas
        self.nets = Networks(NetworkPlan(
            cfg.model.weights, plan.image_shape, cfg.data.image_size, cfg.model.feature_layer,
            parse_trainable(cfg.model.trainable), len(plan.class_names), cfg.adapt.bottleneck,
            cfg.adapt.domain_norm, plan.feature_shape), method)
        self.model = self.nets.whole
        groups = make_optimizers(method, self.nets, annealed_rate(
            cfg.optim.learning_rate, cfg.adapt.lr_alpha, cfg.adapt.lr_beta,
            cfg.optim.epochs * plan.steps_per_epoch))
        self.optimizers = [optimizer for optimizer, _ in groups.values()]
        self.update = make_adapt_step(strategy, self.nets, groups, method)

    def step(self, batch: dict, progress: float):
        import tensorflow as tf

        from lib.train.steps import local_sum
        from lib.train.strategy import distribute_batch

        source, target = batch["source"], batch["target"]
        target_arrays = (target["x"], target["label"]) if self.method.reads_target_labels \
            else (target["x"],)
        parts = distribute_batch(self.strategy, (source["x"], source["label"], *target_arrays),
                                 self.local_replicas)
        terms = self.update(tuple(parts[:2]), tuple(parts[2:]),
                            tf.constant(progress, tf.float32))
        local = {name: (local_sum(self.strategy, total), local_sum(self.strategy, count))
                 for name, (total, count) in terms.items()}
        return local, sum(len(batch[name]["x"]) for name in self.method.inputs)

    def learning_rate(self) -> float:
        return float(self.optimizers[0].learning_rate.numpy())

    def judge(self, plan, data):
        """Rank 0's judge, over samples of the training rows and the evaluation splits."""
        from lib.adapt.judge import EpochJudge

        size, seed = plan.config.adapt.selection_samples, plan.config.data.seed
        splits = ({name: data.sample(name, domain, size, seed + offset)
                   for name, (domain, offset) in SAMPLES.items()}
                  | {name: data.whole(name) for name, _ in plan.eval_splits})
        return EpochJudge(self.nets, splits, plan.class_names,
                          plan.config.adapt.embedding_samples, self.method, plan.eval_splits)
