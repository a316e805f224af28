"""MCC: the class-confusion loss in closed-form cases and against a hand computation."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods.mcc import class_confusion
from tests.adapt.methods.common import build, cross_entropy, domains, features, loss_of


def reference(logits, temperature):
    p = np.exp(logits / temperature)
    p /= p.sum(axis=1, keepdims=True)
    w = 1 + np.exp((p * np.log(p + 1e-5)).sum(axis=1))
    w = len(p) * w / w.sum()
    confusion = (p * w[:, None]).T @ p
    confusion = confusion / confusion.sum(axis=1)[None, :]
    return (confusion.sum() - np.trace(confusion)) / p.shape[1]


def test_confident_distinct_predictions_confuse_nothing_uniform_ones_everything():
    certain = tf.constant([[60.0, 0, 0], [0, 60.0, 0], [0, 0, 60.0], [60.0, 0, 0]])
    assert float(class_confusion(certain, 2.5)) == pytest.approx(0.0, abs=1e-6)
    # Equal probabilities: every entry of the normalised matrix is 1/K; the loss (K-1)/K.
    assert float(class_confusion(tf.zeros([5, 4]), 2.5)) == pytest.approx(3 / 4, rel=1e-6)


def test_the_loss_matches_the_reference_arithmetic_on_a_random_batch():
    logits = np.random.default_rng(0).normal(scale=3, size=(7, 4)).astype(np.float32)
    for temperature in (1.0, 2.5):
        assert float(class_confusion(tf.constant(logits), temperature)) == pytest.approx(
            reference(logits.astype(np.float64), temperature), rel=1e-5)
    # The temperature flattens the predictions: more confusion at 2.5 than at 1.
    assert reference(logits, 2.5) > reference(logits, 1.0)


@pytest.mark.parametrize("options", [(), ("temperature=1.5", "trade_off=0.3")])
def test_the_method_adds_the_targets_class_confusion_to_the_classification(options):
    method, nets = build("mcc", options=options)
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    loss, terms = loss_of(method, nets, xs, ys, xt, yt)
    zs, zt = features(nets, xs, xt)
    confusion = reference(nets.label_head(zt).numpy().astype(np.float64),
                          method.options.temperature)
    expected = (cross_entropy(nets.label_head(zs).numpy(), ys).sum() / 8
                + method.options.trade_off * confusion)
    assert loss == pytest.approx(expected, rel=1e-4)
    assert terms["class_confusion"] == pytest.approx((confusion, 1.0), rel=1e-4)
