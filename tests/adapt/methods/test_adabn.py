"""AdaBN: the source-only loss, with the target normalised by its own statistics and the
source's scale and shift."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.session import make_adapt_step
from tests.adapt.methods.common import build, cross_entropy, domains, features, loss_of


def test_the_loss_is_the_source_classification_alone():
    method, nets = build("adabn")
    assert nets.mode == "statistics"
    xs, ys, xt, yt = domains(8, np.random.default_rng(0))
    loss, terms = loss_of(method, nets, xs, ys, xt, yt)
    zs, _ = features(nets, xs, xt)
    assert loss == pytest.approx(cross_entropy(nets.label_head(zs).numpy(), ys).mean(),
                                 rel=1e-5)
    assert set(terms) == {"loss", "accuracy"}


def test_training_moves_the_target_statistics_to_the_target_batches_and_nothing_else():
    """Target images only update the target's moving statistics: after steps on a fixed
    batch, its moving mean approaches that batch's bottleneck mean (momentum 0.99, from
    zero: 1 - 0.99^k of it), and the target has no trainable parameter."""
    import keras

    method, nets = build("adabn")
    optimizer = keras.optimizers.SGD(0.0)  # frozen weights: the statistics alone move
    optimizer.build(nets.trainable_variables)
    step = make_adapt_step(tf.distribute.get_strategy(), nets,
                           {"all": (optimizer, nets.trainable_variables)}, method)
    xs, ys, xt, _ = domains(8, np.random.default_rng(1))
    h = nets.bottleneck(xt).numpy()
    for _ in range(5):
        step((xs, ys), (xt,), tf.constant(0.5))
    target = nets.norms["target"]
    np.testing.assert_allclose(target.moving_mean.numpy(), (1 - 0.99 ** 5) * h.mean(0),
                               rtol=1e-4, atol=1e-6)
    assert target.trainable_weights == []
