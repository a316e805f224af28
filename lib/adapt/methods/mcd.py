from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.method import Method, classified, dense_head, minimise
from lib.options import option


@dataclass(frozen=True)
class MCDOptions:
    generator_steps: int = option(4, "Updates of the features per batch that lower the "
                                     "discrepancy (step C; the reference code's num_k).", min=1)
    trade_off: float = option(1.0, "Weight of the target discrepancy the classifiers raise "
                                   "in step B.", min=0)


def discrepancy(logits_1, logits_2):
    """The two classifiers' disagreement: the mean absolute difference of their softmax
    outputs over rows and classes (Saito et al.'s reference code:
    torch.mean(torch.abs(F.softmax(out1) - F.softmax(out2))))."""
    import tensorflow as tf

    return tf.reduce_mean(tf.abs(tf.nn.softmax(tf.cast(logits_1, tf.float32))
                                 - tf.nn.softmax(tf.cast(logits_2, tf.float32))))


class MCD(Method):
    """Maximum classifier discrepancy (Saito et al., "Maximum Classifier Discrepancy for
    Unsupervised Domain Adaptation", CVPR 2018). Two classifiers on the adapted features,
    the label head (F1, whose predictions are the model's) and one of its own (F2), and
    three phases per batch, each with its own optimizer's step:
      A. features and both classifiers minimise both classifiers' source cross-entropy;
      B. the classifiers alone minimise it minus trade_off x their discrepancy on target;
      C. the features alone minimise that discrepancy, generator_steps times.
    The features' optimizer steps 1 + generator_steps times a batch, the classifiers' twice:
    both rate schedules follow the batches (updates_per_step)."""

    name = "mcd"
    Options = MCDOptions

    def build(self, width: int, num_classes: int) -> dict:
        return {"classifier_2": dense_head("mcd_classifier_2", width, num_classes)}

    def parameter_groups(self, nets) -> dict:
        heads = {id(v) for head in (nets.label_head, nets.own["classifier_2"])
                 for v in head.trainable_variables}
        return {"generator": ([v for v in nets.trainable_variables if id(v) not in heads], 1.0),
                "classifiers": ([v for v in nets.trainable_variables if id(v) in heads], 1.0)}

    def updates_per_step(self) -> dict:
        return {"generator": 1 + self.options.generator_steps, "classifiers": 2}

    @staticmethod
    def _both(nets, z):
        return nets.label_head(z, training=True), nets.own["classifier_2"](z, training=True)

    def _source_loss(self, nets, z, ys):
        logits_1, logits_2 = self._both(nets, z)
        loss_1, terms = classified(logits_1, ys)
        return loss_1 + classified(logits_2, ys)[0], terms

    def update(self, nets, optimizers: dict, source, target, progress) -> dict:
        import tensorflow as tf

        (xs, ys), (xt, *_) = source, target
        with tf.GradientTape() as tape:  # A
            loss, terms = self._source_loss(nets, nets.features(xs, True, "source"), ys)
        minimise(tape, loss, optimizers.values())
        with tf.GradientTape() as tape:  # B
            zs, zt = nets.features_of_both(xs, xt, training=True)
            gap = discrepancy(*self._both(nets, zt))
            loss = self._source_loss(nets, zs, ys)[0] - self.options.trade_off * gap
        minimise(tape, loss, [optimizers["classifiers"]])
        for _ in range(self.options.generator_steps):  # C
            with tf.GradientTape() as tape:
                _, zt = nets.features_of_both(xs, xt, training=True)
                after = discrepancy(*self._both(nets, zt))
            minimise(tape, after, [optimizers["generator"]])
        return terms | {"discrepancy": (gap, 1.0), "discrepancy_after": (after, 1.0)}
