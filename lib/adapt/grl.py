"""The gradient-reversal layer of DANN (Ganin & Lempitsky, 2015)."""

from __future__ import annotations


def reverse_gradient(x, lam):
    """Identity forward; backward multiplies the incoming gradient by -lam. The feature
    extractor thus climbs the domain classifier's loss while the classifier descends it:
    one backward pass plays both sides of the game."""
    import tensorflow as tf

    @tf.custom_gradient
    def _reverse(x, lam):
        def grad(upstream):
            return -tf.cast(lam, upstream.dtype) * upstream, tf.zeros_like(lam)

        return tf.identity(x), grad

    return _reverse(x, tf.convert_to_tensor(lam, tf.float32))
