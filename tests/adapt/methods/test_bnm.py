"""BNM: the batch nuclear norm in closed-form cases and against numpy, and the loss."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods.bnm import batch_nuclear_norm
from tests.adapt.methods.common import build, cross_entropy, domains, features, loss_of


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_distinct_confident_rows_score_one_identical_ones_less():
    # One-hot rows, each class once: singular values all 1, norm B / B = 1.
    assert float(batch_nuclear_norm(tf.eye(4) * 60.0)) == pytest.approx(1.0, rel=1e-5)
    # Every row uniform: rank one, the one singular value sqrt(B / C), over B.
    assert float(batch_nuclear_norm(tf.zeros([6, 3]))) == pytest.approx(np.sqrt(6 / 3) / 6,
                                                                        rel=1e-5)
    # Confident but all the same class: rank one, no diversity.
    same = np.tile([60.0, 0, 0], (4, 1)).astype(np.float32)
    assert float(batch_nuclear_norm(same)) == pytest.approx(2 / 4, rel=1e-4)


def test_a_random_batch_matches_numpy():
    logits = np.random.default_rng(0).normal(scale=2, size=(7, 4))
    expected = np.linalg.norm(softmax(logits), "nuc") / 7
    assert float(batch_nuclear_norm(logits.astype(np.float32))) == pytest.approx(expected,
                                                                                 rel=1e-5)


@pytest.mark.parametrize("options", [(), ("trade_off=0.3",)])
def test_the_loss_is_classification_minus_the_weighted_target_norm(options):
    method, nets = build("bnm", options=options)
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    loss, terms = loss_of(method, nets, xs, ys, xt, yt)
    zs, zt = features(nets, xs, xt)
    norm = np.linalg.norm(softmax(nets.label_head(zt).numpy().astype(np.float64)), "nuc") / 8
    expected = (cross_entropy(nets.label_head(zs).numpy(), ys).mean()
                - method.options.trade_off * norm)
    assert loss == pytest.approx(expected, rel=1e-4)
    assert terms["nuclear_norm"] == pytest.approx((norm, 1.0), rel=1e-4)
