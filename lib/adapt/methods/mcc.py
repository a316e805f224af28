from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.method import Method, entropy, on_both_domains
from lib.options import option


@dataclass(frozen=True)
class MCCOptions:
    temperature: float = option(2.5, "Temperature the target logits are divided by before "
                                     "the softmax (the paper's 2.5).", min=1e-6)
    trade_off: float = option(1.0, "Weight of the class-confusion loss.", min=0)


def class_confusion(logits, temperature: float):
    """Minimum class confusion loss of one batch of target logits (Jin et al., ECCV 2020;
    Transfer-Learning-Library's MinimumClassConfusionLoss): probabilities at temperature T,
    example weights 1 + exp(-entropy) rescaled to sum to the batch size, confusion matrix
    C = P^T diag(w) P, each column divided by its sum as the reference's
    C / C.sum(dim=1) broadcasts (C is symmetric), and the off-diagonal mass over the class
    count."""
    import tensorflow as tf

    p = tf.nn.softmax(tf.cast(logits, tf.float32) / temperature)
    w = tf.stop_gradient(1.0 + tf.exp(-entropy(p)))
    w = tf.cast(tf.shape(p)[0], tf.float32) * w / tf.reduce_sum(w)
    confusion = tf.matmul(p * w[:, None], p, transpose_a=True)
    confusion = confusion / tf.reduce_sum(confusion, axis=1)[None, :]
    classes = tf.cast(tf.shape(p)[1], tf.float32)
    return (tf.reduce_sum(confusion) - tf.linalg.trace(confusion)) / classes


class MCC(Method):
    """Minimum class confusion (Jin et al., ECCV 2020): non-adversarial; the loss is the
    source classification plus the confusion between classes in the target batch's
    predictions. The confusion is a batch-level quantity: each replica computes it on its
    share of the target batch, and the replicas' values are averaged (as every loss is:
    lib/adapt/method.minimise)."""

    name = "mcc"
    Options = MCCOptions

    def loss(self, nets, source, target, progress):
        _, zt, _, class_loss, terms = on_both_domains(nets, source, target)
        mcc = class_confusion(nets.label_head(zt, training=True), self.options.temperature)
        return class_loss + self.options.trade_off * mcc, terms | {"class_confusion": (mcc, 1.0)}
