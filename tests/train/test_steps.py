"""The compiled training step, outside Ray: what --augment changes."""

import keras
import numpy as np
import tensorflow as tf

from lib.train.steps import make_train_step


def losses(augment: bool, repeats: int) -> list[float]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    optimizer = keras.optimizers.SGD(0.0)  # the weights stay put: only the inputs can vary
    optimizer.build(model.trainable_variables)
    step = make_train_step(tf.distribute.get_strategy(), model, optimizer, 16, augment)
    x = tf.constant(np.random.default_rng(1).normal(size=(16, 8, 8, 3)), tf.float32)
    y = tf.constant(np.arange(16) % 4, tf.int32)
    return [float(step((x, y))[0]) for _ in range(repeats)]


def test_augment_feeds_each_step_new_views_of_the_batch():
    plain = losses(False, 3)
    assert plain[0] == plain[1] == plain[2]
    augmented = losses(True, 3)
    assert len(set(augmented)) == 3 and plain[0] not in augmented
