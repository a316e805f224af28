import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.grl import reverse_gradient


@pytest.mark.parametrize("lam", [0.0, 0.37, 1.0, 2.5])
def test_forward_is_identity_and_gradient_is_minus_lambda_times_upstream(lam):
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 6)), tf.float32)
    upstream = tf.constant(np.random.default_rng(1).normal(size=(4, 6)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = reverse_gradient(x, tf.constant(lam))
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    grad = tape.gradient(y, x, output_gradients=upstream)
    np.testing.assert_array_equal(grad.numpy(), (-lam * upstream).numpy())


def test_reversal_composes_with_a_downstream_loss():
    # d/dx of sum(w * grl(x)) is -lam * w: the layer flips exactly what flows back into it.
    x = tf.Variable([[1.0, -2.0, 3.0]])
    w = tf.constant([[0.5, 4.0, -1.0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * reverse_gradient(x, 0.25))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -0.25 * w.numpy())
