"""MDD: the disparities on a hand-picked example, and the whole loss."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods.mdd import disparities
from tests.adapt.methods.common import build, cross_entropy, domains, features, log_softmax, loss_of


def test_disparities_on_a_hand_computed_example():
    # f predicts class 0 on the source row and class 1 on the target row; the adversary's
    # probabilities are (1/4, 1/2, 1/4) on both (logits 0, ln 2, 0).
    logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    adversary = tf.constant([[0.0, np.log(2.0), 0.0]] * 2, tf.float32)
    source, target = disparities(logits, adversary, 1)
    assert float(source[0]) == pytest.approx(-np.log(0.25), rel=1e-5)  # CE at f's class 0
    assert float(target[0]) == pytest.approx(-np.log(1 - 0.5 + 1e-6), rel=1e-5)  # class 1
    # An adversary certain of f's target class: -log(1e-6), not infinity.
    _, capped = disparities(logits, tf.constant([[0.0, 0.0, 0.0], [0.0, 50.0, 0.0]]), 1)
    assert float(capped[0]) == pytest.approx(-np.log(1e-6), rel=1e-3)


@pytest.mark.parametrize("options", [(), ("margin=2", "trade_off=0.5")])
def test_the_loss_is_classification_plus_margin_source_and_target_disparity(options):
    method, nets = build("mdd", options=options)
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    loss, terms = loss_of(method, nets, xs, ys, xt, yt)
    zs, zt = features(nets, xs, xt)
    logits = np.concatenate([nets.label_head(zs).numpy(), nets.label_head(zt).numpy()])
    predicted = logits.argmax(axis=1)
    log_p = log_softmax(nets.own["adversary"](np.concatenate([zs, zt])).numpy())
    at = log_p[np.arange(16), predicted]
    source, target = -at[:8], -np.log(np.minimum(1 - np.exp(at[8:]) + 1e-6, 1))
    margin, trade_off = method.options.margin, method.options.trade_off
    expected = (cross_entropy(logits[:8], ys).mean()
                + trade_off * (margin * source + target).mean())
    assert loss == pytest.approx(expected, rel=1e-4)
    assert terms["source_disparity"] == pytest.approx((source.sum(), 8), rel=1e-4)
    assert terms["target_disparity"] == pytest.approx((target.sum(), 8), rel=1e-4)


def test_the_adversary_descends_the_disparity_loss_the_features_climb_it():
    """With the classification gradient taken out, the features' gradient is -lambda
    times the adversary loss's, and the adversary's is the loss's own."""
    from lib.adapt.method import classified
    from tests.adapt.methods.common import lam

    method, nets = build("mdd")
    xs, ys, xt, yt = domains(8, np.random.default_rng(2))
    adversary = nets.own["adversary"]
    kernel = nets.bottleneck.trainable_weights[0]
    with tf.GradientTape(persistent=True) as tape:
        loss, _ = method.loss(nets, (xs, ys), (xt,), tf.constant(0.5))
        zs, zt = nets.features_of_both(xs, xt, training=True)
        class_loss, _ = classified(nets.label_head(zs, training=True), ys)
        logits = tf.concat([nets.label_head(zs, training=True),
                            nets.label_head(zt, training=True)], 0)
        s, t = disparities(logits, adversary(tf.concat([zs, zt], 0), training=True), 8)
        disparity = tf.reduce_sum(4.0 * s + t) / 8
    weight = lam(0.5, 0.1, 10.0)
    np.testing.assert_allclose(tape.gradient(loss, adversary.trainable_weights[0]),
                               tape.gradient(disparity, adversary.trainable_weights[0]),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(tape.gradient(loss, kernel),
                               tape.gradient(class_loss, kernel)
                               - weight * tape.gradient(disparity, kernel), rtol=1e-3, atol=1e-7)
