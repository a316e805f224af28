"""Every registered method through the same tests: build, step, and what it may read."""

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods import METHODS, UnknownMethod, get_method
from lib.adapt.networks import NetworkPlan, Networks
from lib.adapt.selection import proxy_a_distance
from lib.adapt.step import make_adapt_step
from lib.config import DOMAIN_NORMS

CLASSES, DIM = 3, 24


def plan(domain_norm, bottleneck=16):
    return NetworkPlan("none", (32, 32, 3), 32, "block4_pool", 0, CLASSES, bottleneck,
                       domain_norm, feature_shape=(2, 2, DIM // 4))


def setup(name, learning_rate=1e-2, domain_norm="separate"):
    import keras

    keras.utils.set_random_seed(0)
    strategy = tf.distribute.get_strategy()
    nets = Networks(plan(domain_norm), get_method(name).inputs)
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(nets.trainable_variables)
    return nets, make_adapt_step(strategy, nets, optimizer, get_method(name), global_batch=16)


def domains(n, rng):
    """Class signal in the first 4 dims; the target adds a large offset in 4 nuisance
    dims: a shift the label head need not see, which only adaptation removes."""
    y = rng.integers(0, CLASSES, n)
    centres = np.eye(CLASSES, 4) * 4
    xs = rng.normal(size=(n, DIM)) + np.pad(centres[y], ((0, 0), (0, DIM - 4)))
    yt = rng.integers(0, CLASSES, n)
    xt = rng.normal(size=(n, DIM)) + np.pad(centres[yt], ((0, 0), (0, DIM - 4)))
    xt[:, 4:8] += 6.0
    shape = (n, 2, 2, DIM // 4)
    return (xs.reshape(shape).astype(np.float32), y.astype(np.int32),
            xt.reshape(shape).astype(np.float32), yt.astype(np.int32))


def weights(model):
    return [w.copy() for w in model.get_weights()]


def changed(before, model):
    return any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("domain_norm", DOMAIN_NORMS)
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_builds_steps_and_trains_what_its_losses_reach(name, domain_norm):
    method = get_method(name)
    nets, step = setup(name, domain_norm=domain_norm)
    xs, ys, xt, yt = domains(16, np.random.default_rng(0))
    # Methods that may not read target labels get target batches without them.
    target = (xt, yt) if method.reads_target_labels else (xt,)
    before = {n: weights(getattr(nets, n)) for n in ("bottleneck", "label_head", "domain_head")}
    sums = step((xs, ys), target, tf.constant(0.5))
    assert float(sums["examples"]) == 16 and np.isfinite(float(sums["loss_sum"]))
    assert changed(before["bottleneck"], nets.bottleneck)
    assert changed(before["label_head"], nets.label_head)
    adversarial = "domain_loss_sum" in sums
    assert changed(before["domain_head"], nets.domain_head) == adversarial
    assert adversarial == (name == "dann")
    losses = [float(step((xs, ys), target, tf.constant(0.5))["loss_sum"]) for _ in range(30)]
    assert losses[-1] < losses[0]


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(UnknownMethod, match="dann, source-only, oracle"):
        get_method("coral")


def test_dann_removes_the_domain_offset_from_the_features_source_only_keeps():
    """With one BatchNorm for both domains, so that only the adversarial loss can align."""
    rng = np.random.default_rng(1)
    xs, ys, xt, yt = domains(2048, rng)
    distance = {}
    for name in ("source-only", "dann"):
        nets, step = setup(name, learning_rate=3e-4, domain_norm="shared")
        for k in range(800):
            rows = slice((k * 16) % 2048, (k * 16) % 2048 + 16)
            lam = 2 / (1 + np.exp(-10 * k / 800)) - 1
            step((xs[rows], ys[rows]), (xt[rows],), tf.constant(lam, tf.float32))
        zs = nets.features(xs[:600], training=False, domain="source").numpy()
        zt = nets.features(xt[:600], training=False, domain="target").numpy()
        distance[name] = proxy_a_distance(zs, zt)
    assert distance["source-only"] > 1.5, distance
    assert distance["dann"] < distance["source-only"] - 0.5, distance


def test_on_cached_lower_blocks_the_trainable_block_is_adapted_too():
    """--trainable top:1 with the feature cache: block 3's outputs are the inputs, and
    block 4 trains under the adversarial loss like the bottleneck."""
    import keras

    nets = Networks(NetworkPlan("none", (32, 32, 3), 32, "block4_pool", 1, CLASSES, 16,
                                "separate", feature_shape=(4, 4, 256)),
                    get_method("dann").inputs)
    assert {w.path.split("/")[0] for w in nets.backbone.trainable_weights} == {
        "block4_conv1", "block4_conv2", "block4_conv3"}
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(nets.trainable_variables)
    step = make_adapt_step(tf.distribute.get_strategy(), nets, optimizer, get_method("dann"),
                           global_batch=4)
    rng = np.random.default_rng(0)
    before = weights(nets.backbone)
    source = (rng.normal(size=(4, 4, 4, 256)).astype(np.float32),
              (np.arange(4) % CLASSES).astype(np.int32))
    sums = step(source, (rng.normal(size=(4, 4, 4, 256)).astype(np.float32),),
                tf.constant(0.5))
    assert np.isfinite(float(sums["domain_loss_sum"]))
    assert changed(before, nets.backbone)


@pytest.mark.parametrize("domain_norm", DOMAIN_NORMS)
def test_each_domain_is_normalised_with_its_own_statistics_only_when_separate(domain_norm):
    """After one training step a BatchNorm's moving mean is 1% of its batch's mean
    (momentum 0.99, from zero): with separate norms the target's has moved by the target
    batch's mean alone, with a shared one by the mean of both domains together."""
    nets, step = setup("dann", domain_norm=domain_norm)
    xs, ys, xt, _ = domains(16, np.random.default_rng(0))
    assert (nets.norms["source"] is not nets.norms["target"]) == (domain_norm == "separate")
    hs, ht = nets.bottleneck(xs).numpy(), nets.bottleneck(xt).numpy()  # before the step
    step((xs, ys), (xt,), tf.constant(0.5))
    expected = {"separate": {"source": hs.mean(0), "target": ht.mean(0)},
                "shared": dict.fromkeys(("source", "target"),
                                        np.concatenate([hs, ht]).mean(0))}[domain_norm]
    for domain, mean in expected.items():
        np.testing.assert_allclose(nets.norms[domain].moving_mean.numpy(), 0.01 * mean,
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["source-only", "oracle"])
def test_a_method_that_trains_on_one_domain_has_one_norm_for_both(name):
    """It never sees the other domain's training images, so a BatchNorm of that domain
    would keep its initial statistics; the one it trains normalises both."""
    nets, _ = setup(name, domain_norm="separate")
    assert nets.norms["source"] is nets.norms["target"]
