"""DANN's loss against a hand computation, and the direction of its reversed gradient."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.method import domain_classification
from tests.adapt.methods.common import (
    build,
    cross_entropy,
    domains,
    features,
    lam,
    loss_of,
    sigmoid_cross_entropy,
)


def test_domain_classification_is_the_mean_bce_over_both_domains():
    logits = tf.constant([2.0, -1.0, 0.5, -3.0, 1.0, 0.0])  # 2 source rows, then 4 target
    is_source = np.array([1, 1, 0, 0, 0, 0])
    per_row = sigmoid_cross_entropy(logits.numpy(), is_source)
    loss, terms = domain_classification(logits, 2)
    assert float(loss) == pytest.approx(per_row.sum() / 6, rel=1e-6)
    hits = ((logits.numpy() > 0) == is_source).sum()  # 2.0, -1.0 x; -3.0, 0.0 right; ...
    assert [float(v) for v in terms["domain_accuracy"]] == [hits, 6]
    weights = tf.constant([1.0, 2.0, 0.5, 1.0, 1.0, 1.5])
    weighted, _ = domain_classification(logits, 2, weights=weights)
    assert float(weighted) == pytest.approx((per_row * weights.numpy()).sum() / 6, rel=1e-6)


def test_the_loss_is_classification_plus_the_domain_bce_on_both_domains():
    method, nets = build("dann")
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    loss, terms = loss_of(method, nets, xs, ys, xt, yt, progress=0.3)
    zs, zt = features(nets, xs, xt)
    classification = cross_entropy(nets.label_head(zs).numpy(), ys)
    logit = nets.own["domain_head"](np.concatenate([zs, zt])).numpy()[:, 0]
    bce = sigmoid_cross_entropy(logit, np.r_[np.ones(8), np.zeros(8)])
    # Each a mean over its rows: 8 source rows, 16 rows of both domains.
    expected = classification.sum() / 8 + bce.sum() / 16
    assert loss == pytest.approx(expected, rel=1e-5)
    assert terms["domain_loss"] == pytest.approx((bce.sum(), 16), rel=1e-5)
    assert terms["grl_lambda"] == pytest.approx((lam(0.3, 1.0, 10.0), 1.0), rel=1e-5)


def test_the_features_climb_the_domain_loss_the_domain_head_descends():
    """One backward pass plays both sides: the domain head's gradient is the domain loss's,
    the features' part from it is -lambda times the domain loss's."""
    from lib.adapt.method import classified

    method, nets = build("dann", options=("lambda_max=0.5",))
    xs, ys, xt, yt = domains(8, np.random.default_rng(1))
    head = nets.own["domain_head"]
    kernel = nets.bottleneck.trainable_weights[0]
    progress = tf.constant(0.4)
    with tf.GradientTape(persistent=True) as tape:
        loss, _ = method.loss(nets, (xs, ys), (xt,), progress)
        zs, zt = nets.features_of_both(xs, xt, training=True)
        class_loss, _ = classified(nets.label_head(zs, training=True), ys)
        logits = head(tf.concat([zs, zt], 0), training=True)[:, 0]
        domain_loss, _ = domain_classification(logits, 8)  # no reversal
    weight = lam(0.4, 0.5, 10.0)
    np.testing.assert_allclose(tape.gradient(loss, head.trainable_weights[0]),
                               tape.gradient(domain_loss, head.trainable_weights[0]), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose(tape.gradient(loss, kernel),
                               tape.gradient(class_loss, kernel)
                               - weight * tape.gradient(domain_loss, kernel),
                               rtol=1e-3, atol=1e-6)
