"""MCD: the discrepancy against a hand computation, and the three phases of its update:
who steps how often, and which way each side moves the target discrepancy."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods.mcd import discrepancy
from tests.adapt.methods.common import build, domains


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_discrepancy_is_the_mean_absolute_difference_of_the_softmaxes():
    a = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]], np.float32)
    b = np.array([[0.0, 2.0, -1.0], [0.5, 0.5, 0.5]], np.float32)
    expected = np.abs(softmax(a) - softmax(b)).sum() / 6  # 2 rows x 3 classes
    assert float(discrepancy(a, b)) == pytest.approx(expected, rel=1e-6)
    assert float(discrepancy(a, a)) == 0.0


def _update(rates, options=()):
    """One MCD update with SGD at {group: rate}; (method, nets, optimizers, discrepancy on
    the target batch before, after)."""
    import keras

    method, nets = build("mcd", options=options)
    groups = method.parameter_groups(nets)
    optimizers = {}
    for group, (variables, _) in groups.items():
        optimizer = keras.optimizers.SGD(rates[group])
        optimizer.build(variables)
        optimizers[group] = (optimizer, variables)
    xs, ys, xt, _ = domains(16, np.random.default_rng(0))

    def gap():
        _, zt = nets.features_of_both(xs, xt, training=False)
        return float(discrepancy(nets.label_head(zt), nets.own["classifier_2"](zt)))

    before = gap()
    method.update(nets, optimizers, (xs, ys), (xt,), tf.constant(0.5))
    return method, nets, optimizers, before, gap()


def test_the_groups_split_every_trainable_weight_between_features_and_classifiers():
    method, nets = build("mcd")
    groups = method.parameter_groups(nets)
    heads = {id(v) for v in nets.label_head.trainable_variables
             + nets.own["classifier_2"].trainable_variables}
    generator, classifiers = ({id(v) for v in groups[g][0]} for g in ("generator", "classifiers"))
    assert classifiers == heads and not generator & classifiers
    assert generator | classifiers == {id(v) for v in nets.trainable_variables}


def test_each_phase_steps_its_own_side_as_often_as_the_paper():
    _, _, optimizers, _, _ = _update({"generator": 1e-3, "classifiers": 1e-3},
                                     ("generator_steps=3",))
    # A steps both, B the classifiers, C the features 3 times.
    assert int(optimizers["generator"][0].iterations) == 1 + 3
    assert int(optimizers["classifiers"][0].iterations) == 2


def test_the_features_lower_the_discrepancy_the_classifiers_raise_it():
    # Classifiers frozen: only A and C move the features; C descends the discrepancy.
    *_, before, after = _update({"generator": 0.05, "classifiers": 0.0},
                                ("generator_steps=4",))
    assert after < before
    # Features frozen, the discrepancy weighing more than the source loss: B ascends it (a
    # small step: a large one saturates both softmaxes whichever way it goes).
    *_, before, after = _update({"generator": 0.0, "classifiers": 0.01}, ("trade_off=20",))
    assert after > before * 1.2


def test_both_rate_schedules_follow_the_batches():
    from lib.adapt.schedules import annealed_rate
    from lib.adapt.session import make_optimizers

    method, nets = build("mcd", options=("generator_steps=3",))
    schedule = annealed_rate(0.01, 10.0, 0.75, total_steps=10)
    optimizers = make_optimizers(method, nets, schedule)
    xs, ys, xt, _ = domains(16, np.random.default_rng(0))
    method.update(nets, optimizers, (xs, ys), (xt,), tf.constant(0.5))
    for group, updates in (("generator", 4), ("classifiers", 2)):
        optimizer = optimizers[group][0]
        assert int(optimizer.iterations) == updates
        assert float(optimizer.learning_rate) == pytest.approx(float(schedule(1)), rel=1e-6)
