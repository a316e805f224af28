from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.method import Method, on_both_domains
from lib.options import option


@dataclass(frozen=True)
class BNMOptions:
    trade_off: float = option(1.0, "Weight of the target batch's nuclear norm in the loss.",
                              min=0)


def batch_nuclear_norm(logits):
    """The nuclear norm (sum of singular values) of a batch's softmax prediction matrix,
    divided by the batch size, as the reference code's
    torch.norm(softmax_tgt, 'nuc') / softmax_tgt.shape[0]. Larger: predictions both
    confident (discriminable) and spread over the classes (diverse)."""
    import tensorflow as tf

    p = tf.nn.softmax(tf.cast(logits, tf.float32))
    return tf.reduce_sum(tf.linalg.svd(p, compute_uv=False)) / tf.cast(tf.shape(p)[0],
                                                                       tf.float32)


class BNM(Method):
    """Batch nuclear-norm maximization (Cui et al., "Towards Discriminability and Diversity:
    Batch Nuclear-norm Maximization under Label Insufficient Situations", CVPR 2020): the
    source classification minus trade_off x the nuclear norm of the target batch's
    predictions. Non-adversarial; a batch-level quantity like MCC's, computed on each
    replica's share of the target batch."""

    name = "bnm"
    Options = BNMOptions

    def loss(self, nets, source, target, progress):
        _, zt, _, class_loss, terms = on_both_domains(nets, source, target)
        norm = batch_nuclear_norm(nets.label_head(zt, training=True))
        return class_loss - self.options.trade_off * norm, terms | {"nuclear_norm": (norm, 1.0)}
