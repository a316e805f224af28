"""Training-time augmentation of image batches, the standard CIFAR recipe: a random
horizontal flip and a random shift of up to 4 pixels per image. It runs inside the
compiled step, so it costs the feed nothing and every replica draws its own."""

from __future__ import annotations

MAX_SHIFT = 4


def flip_and_shift(x, max_shift: int = MAX_SHIFT):
    """x: a batch (B, H, W, C) of caffe-preprocessed images. Zero padding is the mean
    colour in that space, not black, so shifted-in borders look like a blank background."""
    import tensorflow as tf

    batch = tf.shape(x)[0]
    height, width = x.shape[1], x.shape[2]
    flip = tf.random.uniform([batch, 1, 1, 1]) < 0.5
    x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    padded = tf.pad(x, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    # A per-image crop of the padded batch, as two batched gathers (rows, then columns).
    top = tf.random.uniform([batch], 0, 2 * max_shift + 1, dtype=tf.int32)
    left = tf.random.uniform([batch], 0, 2 * max_shift + 1, dtype=tf.int32)
    rows = top[:, None] + tf.range(height)[None, :]
    cols = left[:, None] + tf.range(width)[None, :]
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(x, cols, axis=2, batch_dims=1)
