"""The adapt job's side of the training session (lib/train/worker.py): its learner is a
method (lib/adapt/method.py) over the shared networks, its judge scores the evaluation
splits and the label-free selection criteria after every epoch."""

from __future__ import annotations

from lib.adapt.data import SAMPLES
from lib.train.worker import Verdict


class MethodLearner:
    """A method's networks, optimizers and compiled step, as the session's loop sees them."""

    domains = ("source", "target")
    steps_per_call = 1
    remedy = "lower --learning-rate or the method's weights (--method-opt)"

    def __init__(self, plan, strategy, local_replicas: int, method):
        from lib.adapt.networks import NetworkPlan, Networks
        from lib.adapt.schedules import annealed_rate
        from lib.adapt.step import make_adapt_step, make_optimizers
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

    def judge(self, plan, data) -> SelectionJudge:
        return SelectionJudge(plan, self, data)


class SelectionJudge:
    """Rank 0's judge: lib/adapt/judge.EpochJudge over the training samples and the
    evaluation splits, its verdict as the session writes and reports it."""

    phase = "evaluation and selection scores"

    def __init__(self, plan, learner: MethodLearner, data):
        from lib.adapt.judge import EpochJudge

        size, seed = plan.config.adapt.selection_samples, plan.config.data.seed
        splits = ({name: data.sample(name, domain, size, seed + offset)
                   for name, (domain, offset) in SAMPLES.items()}
                  | {name: data.whole(name) for name, _ in plan.eval_splits})
        self.eval_splits = plan.eval_splits
        self.epochs = EpochJudge(learner.nets, splits, plan.class_names,
                                 plan.config.adapt.embedding_samples, learner.method)

    def start(self) -> dict:
        """The backbone's own domain gap: where adaptation starts from."""
        distance, embeddings = self.epochs.start()
        return {"domain_distance": [distance]} | ({"embeddings": embeddings} if embeddings
                                                  else {})

    def judge(self, epoch: int) -> Verdict:
        verdict = self.epochs.judge(epoch)
        from lib.adapt.selection import KEPT_BY, criterion_scores

        accuracies = {name: score["accuracy"] for name, score in verdict.scores.items()}
        scores = criterion_scores(verdict.criteria, accuracies)
        # The scores Ray Train keeps checkpoints by; the picks (select_epochs) use the same.
        kept_by = {KEPT_BY[name][0]: value for name, value in scores.items()
                   if value is not None}
        tables = {"evals": verdict.evals(self.eval_splits), "domain_distance": [verdict.distance]}
        if verdict.embeddings:
            tables["embeddings"] = verdict.embeddings
        return Verdict(columns=verdict.criteria, tables=tables, reported=verdict.criteria
                       | {f"{name}_accuracy": a for name, a in accuracies.items()} | kept_by)
