from __future__ import annotations

from dataclasses import dataclass

from lib.adapt.grl import reverse_gradient
from lib.adapt.method import Method, dense_head, on_both_domains
from lib.adapt.schedules import grl_lambda
from lib.options import option


@dataclass(frozen=True)
class MDDOptions:
    margin: float = option(4.0, "Margin factor gamma of the disparity (the reference "
                                "code's default).", min=0)
    trade_off: float = option(1.0, "Weight of the disparity term in the loss.", min=0)
    lambda_max: float = option(0.1, "Final weight of the reversed gradient into the "
                                    "features (the reference code's warm start ends at 0.1).",
                               min=0)
    lambda_gamma: float = option(10.0, "How fast it ramps up (as dann's).", min=0)


def disparities(logits, adversary_logits, n_source):
    """Per-example source and target disparities of the auxiliary classifier f' from the
    main classifier f (Zhang et al., ICML 2019; Transfer-Learning-Library's
    ClassificationMarginDisparityDiscrepancy): on source rows, the cross-entropy of f' at
    f's predicted class; on target rows, -log(1 - softmax(f')[f's class]), with 1e-6
    inside the log clamped to 1 as the reference's shift_log. Both are >= 0; f' wants the
    first small (agree with f on source) and the second small too (disagree on target)."""
    import tensorflow as tf

    predicted = tf.stop_gradient(tf.argmax(logits, axis=-1, output_type=tf.int32))
    log_p = tf.nn.log_softmax(adversary_logits)
    at = tf.gather(log_p, predicted, batch_dims=1)
    source = -at[:n_source]
    target = -tf.math.log(tf.minimum(1.0 - tf.exp(at[n_source:]) + 1e-6, 1.0))
    return source, target


class MDD(Method):
    """Margin disparity discrepancy (Zhang et al., "Bridging Theory and Algorithm for
    Domain Adaptation", ICML 2019). An auxiliary classifier f' (the label head's shape)
    reads the features through gradient reversal and minimises
    margin x source disparity + target disparity, i.e. maximises the discrepancy
    D = target term - margin x source term as the reference code writes it (log(1 - p) on
    target); the reversed gradient makes the features minimise it."""

    name = "mdd"
    Options = MDDOptions

    def build(self, width: int, num_classes: int) -> dict:
        return {"adversary": dense_head("mdd_adversary", width, num_classes)}

    def loss(self, nets, source, target, progress):
        import tensorflow as tf

        zs, zt, logits_s, class_loss, terms = on_both_domains(nets, source, target)
        logits = tf.cast(tf.concat([logits_s, nets.label_head(zt, training=True)], 0),
                         tf.float32)
        lam = grl_lambda(progress, self.options.lambda_max, self.options.lambda_gamma)
        adversary = tf.cast(nets.own["adversary"](
            reverse_gradient(tf.concat([zs, zt], 0), lam), training=True), tf.float32)
        source, target_d = disparities(logits, adversary, tf.shape(zs)[0])
        # The reference averages the pairs of a batch: (margin s_i + t_i) over its rows.
        transfer = tf.reduce_mean(self.options.margin * source + target_d)
        n = tf.cast(tf.shape(zs)[0], tf.float32)
        return class_loss + self.options.trade_off * transfer, terms | {
            "source_disparity": (tf.reduce_sum(source), n),
            "target_disparity": (tf.reduce_sum(target_d), n),
            "grl_lambda": (lam, 1.0)}
