"""The compiled training step, outside Ray: what --augment changes."""

import keras
import numpy as np
import tensorflow as tf

from lib.train.steps import make_train_steps


def losses(augment: bool, repeats: int) -> list[float]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    optimizer = keras.optimizers.SGD(0.0)  # the weights stay put: only the inputs can vary
    optimizer.build(model.trainable_variables)
    steps = make_train_steps(tf.distribute.get_strategy(), model, optimizer, 16, augment)
    x = tf.constant(np.random.default_rng(1).normal(size=(1, 16, 8, 8, 3)), tf.float32)
    y = tf.constant(np.arange(16)[None] % 4, tf.int32)
    return [float(steps((x, y), tf.constant(1))[0]) for _ in range(repeats)]


def test_augment_feeds_each_step_new_views_of_the_batch():
    plain = losses(False, 3)
    assert plain[0] == plain[1] == plain[2]
    augmented = losses(True, 3)
    assert len(set(augmented)) == 3 and plain[0] not in augmented


def test_stacked_steps_match_one_call_per_step():
    """make_train_steps runs the same steps stacked several to a call as one to a call."""
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(5, 16, 8, 8, 3)).astype(np.float32)
    ys = (rng.integers(0, 4, size=(5, 16))).astype(np.int32)
    results = {}
    for stacked in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(4)])
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        initial = model.get_weights()
        strategy = tf.distribute.get_strategy()
        if stacked:
            steps = make_train_steps(strategy, model, optimizer, 16)
            first = steps((tf.constant(xs[:3]), tf.constant(ys[:3])), tf.constant(3))
            rest = steps((tf.constant(xs[3:]), tf.constant(ys[3:])), tf.constant(2))
            sums = [float(first[0]) + float(rest[0]), float(first[1]) + float(rest[1])]
        else:
            step = make_train_steps(strategy, model, optimizer, 16)
            outs = [step((tf.constant(x[None]), tf.constant(y[None])), tf.constant(1))
                    for x, y in zip(xs, ys)]
            sums = [sum(float(o[0]) for o in outs), sum(float(o[1]) for o in outs)]
        results[stacked] = (sums, model.get_weights())
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-5)
    for stacked_weight, single_weight in zip(results[True][1], results[False][1]):
        np.testing.assert_allclose(stacked_weight, single_weight, rtol=1e-5, atol=1e-6)
    assert np.abs(results[True][1][0] - initial[0]).max() > 1e-2  # the steps did move them


REPLICA_LOOP = """
from lib.train.steps import make_train_steps
for replicas in (2, 1):
    strategy, model, optimizer = dense_model(replicas)
    steps = make_train_steps(strategy, model, optimizer, 8)
    sums = steps(distribute_batch(strategy, (xs, ys), replicas, axis=1), tf.constant(3))
    final[replicas] = {"weights": [w.tolist() for w in model.get_weights()],
                       "loss_sum": float(sums[0]), "replicas": strategy.num_replicas_in_sync}
"""


def test_two_replicas_step_exactly_as_one_with_the_whole_batch():
    """The loss is averaged over the global batch, so summing the replicas' gradients gives
    the whole batch's: averaged over each replica's own rows, every step would be twice as
    large. Outside Ray (2 logical CPUs in a fresh process): seconds, not a Ray Train run."""
    from tests.replicas import compare

    compare(REPLICA_LOOP)
