"""CDAN and CDAN+E: the multilinear map, its randomized form, the entropy weights, and
the whole loss against a hand computation."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods.cdan import entropy_weights, multilinear, randomized_multilinear
from tests.adapt.methods.common import (
    CLASSES,
    build,
    cross_entropy,
    domains,
    features,
    loss_of,
    sigmoid_cross_entropy,
)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_multilinear_map_is_the_class_major_outer_product():
    f = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
    g = np.array([[0.25, 0.75, 0.0], [1.0, 0.0, 0.0]], np.float32)
    expected = [[0.25, 0.5, 0.75, 1.5, 0.0, 0.0],  # g_c * f_j at c * 2 + j
                [0.5, -1.0, 0.0, 0.0, 0.0, 0.0]]
    np.testing.assert_allclose(multilinear(tf.constant(f), tf.constant(g)), expected)


def test_the_randomized_map_keeps_the_multilinear_inner_products_on_average():
    """<T(a), T(b)> of the randomized map estimates <f_a, f_b> <g_a, g_b>, the full map's
    inner product; its 1/sqrt(d) is what makes the estimate unbiased."""
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 6)).astype(np.float32)
    g = softmax(rng.normal(size=(2, 4))).astype(np.float32)
    d = 20_000
    rf = rng.normal(size=(6, d)).astype(np.float32)
    rg = rng.normal(size=(4, d)).astype(np.float32)
    t = randomized_multilinear(tf.constant(f), tf.constant(g), tf.constant(rf),
                               tf.constant(rg)).numpy()
    np.testing.assert_allclose(t, (f @ rf) * (g @ rg) / np.sqrt(d), rtol=1e-4, atol=1e-7)
    full = multilinear(tf.constant(f), tf.constant(g)).numpy()
    # The estimate's spread is about |T(a)| |T(b)| / sqrt(d) (under 1% here); without the
    # 1/sqrt(d) it would be d times too large.
    scale = float(np.linalg.norm(full[0]) * np.linalg.norm(full[1]))
    assert float(t[0] @ t[1]) == pytest.approx(float(full[0] @ full[1]), abs=0.05 * scale)
    assert float(t[0] @ t[0]) == pytest.approx(float(full[0] @ full[0]), rel=0.05)


def test_entropy_weights_favour_confident_examples_and_average_one_in_each_domain():
    g = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5]], np.float32)
    h = -(g * np.log(g + 1e-5)).sum(axis=1)
    raw = 1 + np.exp(-h)  # 2 for a certain prediction, 1.5 for a coin toss
    expected = np.r_[raw[:2] / raw[:2].mean(), raw[2:] / raw[2:].mean()]
    w = entropy_weights(tf.constant(g), 2).numpy()
    np.testing.assert_allclose(w, expected, rtol=1e-5)
    assert w[0] > w[1] and w[2] > w[3]


def _hand_loss(nets, xs, ys, xt, entropy):
    zs, zt = features(nets, xs, xt)
    logits_s, logits_t = nets.label_head(zs).numpy(), nets.label_head(zt).numpy()
    z = np.concatenate([zs, zt])
    g = softmax(np.concatenate([logits_s, logits_t]))
    if "projection" in nets.own:
        rf = nets.own["projection"].weights[0].numpy()
        rg = nets.own["projection_classes"].weights[0].numpy()
        h = (z @ rf) * (g @ rg) / np.sqrt(rf.shape[1])
    else:
        h = np.einsum("bc,bf->bcf", g, z).reshape(len(z), -1)
    logit = nets.own["domain_head"](h.astype(np.float32)).numpy()[:, 0]
    n = len(xs)
    bce = sigmoid_cross_entropy(logit, np.r_[np.ones(n), np.zeros(len(xt))])
    if entropy:
        raw = 1 + np.exp((g * np.log(g + 1e-5)).sum(axis=1))
        bce = bce * np.r_[raw[:n] / raw[:n].mean(), raw[n:] / raw[n:].mean()]
    return cross_entropy(logits_s, ys).mean() + bce.mean()


@pytest.mark.parametrize("name,options", [
    ("cdan", ()), ("cdan+e", ()),
    ("cdan", ("max_multilinear=10", "randomized_dim=64")),  # 16 x 3 > 10: randomized
])
def test_the_loss_is_classification_plus_the_conditional_domain_bce(name, options):
    method, nets = build(name, options=options)
    assert ("projection" in nets.own) == bool(options)
    assert nets.own["domain_head"].input_shape[1] == (64 if options else 16 * CLASSES)
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    loss, terms = loss_of(method, nets, xs, ys, xt, yt)
    expected = _hand_loss(nets, xs, ys, xt, entropy=name == "cdan+e")
    assert loss == pytest.approx(expected, rel=1e-4)
    assert set(terms) == {"loss", "accuracy", "domain_loss", "domain_accuracy", "grl_lambda"}


def test_no_gradient_flows_through_the_conditioning_probabilities():
    """The class probabilities condition the domain head only (the reference detaches
    them): at lambda 0 the label head gets the classification's gradient and nothing
    from the domain loss."""
    from lib.adapt.method import classified

    method, nets = build("cdan+e")
    xs, ys, xt, yt = domains(8, np.random.default_rng(1))
    kernel = nets.label_head.trainable_weights[-2]
    with tf.GradientTape(persistent=True) as tape:
        loss, _ = method.loss(nets, (xs, ys), (xt,), tf.constant(0.0))
        zs, _ = nets.features_of_both(xs, xt, training=True)
        class_loss, _ = classified(nets.label_head(zs, training=True), ys)
    np.testing.assert_allclose(tape.gradient(loss, kernel), tape.gradient(class_loss, kernel),
                               rtol=1e-5, atol=1e-8)
