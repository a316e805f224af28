"""Every registered method through the same tests: build, step, what its losses reach,
what it may read, how its adversarial gradient scales, and its checkpoint."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lib.adapt.methods import (
    UnknownMethod,
    canonical_options,
    get_method,
    parse_options,
    registry,
)
from lib.adapt.networks import NetworkPlan, Networks
from lib.adapt.selection import proxy_a_distance
from lib.adapt.session import make_adapt_step, make_optimizers
from lib.errors import UsageError
from lib.train import checkpoint
from tests.adapt.methods.common import CLASSES, build, domains, target_of, weights

NORMS = ("separate", "shared", "statistics")


def changed(before, model):
    return any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def setup(name, learning_rate=1e-2, domain_norm="separate", options=()):
    method, nets = build(name, domain_norm, options=options)
    optimizers = make_optimizers(method, nets, learning_rate)
    step = make_adapt_step(tf.distribute.get_strategy(), nets, optimizers, method)
    return method, nets, [optimizer for optimizer, _ in optimizers.values()], step


@pytest.mark.parametrize("domain_norm", NORMS)
@pytest.mark.parametrize("name", sorted(registry()))
def test_every_method_builds_steps_and_trains_what_its_losses_reach(name, domain_norm):
    method, nets, _, step = setup(name, domain_norm=domain_norm)
    xs, ys, xt, yt = domains(16, np.random.default_rng(0))
    target = target_of(method, xt, yt)
    before = {"bottleneck": weights(nets.bottleneck), "label_head": weights(nets.label_head)}
    before |= {n: weights(m) for n, m in nets.own.items()}
    terms = step((xs, ys), target, tf.constant(0.5))
    (total, count) = terms["loss"]
    assert float(count) == 16 and np.isfinite(float(total))
    assert 0 <= float(terms["accuracy"][0]) <= 16 and float(terms["accuracy"][1]) == 16
    for name_, (total, count) in terms.items():
        assert np.isfinite(float(total)) and float(count) > 0, name_
    assert changed(before["bottleneck"], nets.bottleneck)
    assert changed(before["label_head"], nets.label_head)
    for network in nets.own:
        trainable = nets.own[network].trainable_weights
        assert changed(before[network], nets.own[network]) == bool(trainable), network
    losses = [float(step((xs, ys), target, tf.constant(0.5))["loss"][0]) for _ in range(30)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", sorted(registry()))
def test_target_labels_reach_only_a_method_that_declares_it(name):
    """A method that may not read target labels is stepped with target batches that have
    none (the feed drops them): it must not need them."""
    method, _, _, step = setup(name)
    xs, ys, xt, yt = domains(16, np.random.default_rng(0))
    if method.reads_target_labels:
        with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
            step((xs, ys), (xt,), tf.constant(0.5))
    else:
        step((xs, ys), (xt,), tf.constant(0.5))
    assert method.reads_target_labels == (name == "oracle")


def _feature_gradient(method, nets, xs, ys, xt, yt, progress):
    """d loss / d bottleneck kernel: the gradient that adapts the features."""
    with tf.GradientTape() as tape:
        loss, _ = method.loss(nets, (xs, ys), target_of(method, xt, yt),
                              tf.constant(progress, tf.float32))
    return tape.gradient(loss, nets.bottleneck.trainable_weights[0]).numpy()


ADVERSARIAL = [name for name, cls in registry().items()
               if "lambda_max" in {f.name for f in dataclasses.fields(cls.Options)}]


def test_the_adversarial_methods_are_those_with_a_reversal_weight():
    assert ADVERSARIAL == ["cdan", "cdan+e", "dann", "mdd"]


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_an_adversarial_gradient_into_the_features_scales_with_its_weight(name):
    """The features' gradient is the classification's plus lambda(p) x a fixed part: at
    p = 0 (lambda 0) nothing but the classification reaches them, and the rest grows in
    proportion to lambda. A method that ignored its schedule (a fixed weight) or let its
    adversary's loss reach the features past the reversal fails here."""
    from lib.adapt.method import classified
    from lib.adapt.schedules import grl_lambda

    method, nets, _, _ = setup(name)
    xs, ys, xt, yt = domains(16, np.random.default_rng(2))
    kernel = nets.bottleneck.trainable_weights[0]
    with tf.GradientTape() as tape:
        zs, _ = nets.features_of_both(xs, xt, training=True)
        class_loss, _ = classified(nets.label_head(zs, training=True), ys)
    plain = tape.gradient(class_loss, kernel).numpy()
    at = {p: _feature_gradient(method, nets, xs, ys, xt, yt, p) for p in (0.0, 0.1, 0.7)}
    np.testing.assert_allclose(at[0.0], plain, rtol=1e-5, atol=1e-7)
    extra = {p: (at[p] - plain) / float(grl_lambda(p, method.options.lambda_max,
                                                   method.options.lambda_gamma))
             for p in (0.1, 0.7)}
    assert np.abs(extra[0.7]).max() > 1e-5 * np.abs(plain).max()  # the adversary is there
    np.testing.assert_allclose(extra[0.1], extra[0.7], rtol=1e-3,
                               atol=1e-6 * np.abs(extra[0.7]).max())


@pytest.mark.parametrize("name", sorted(registry()))
def test_a_checkpoint_restores_every_network_the_method_owns(name, tmp_path):
    """--resume: the weights of every network (the method's own included) and the
    optimizer state come back; the restored model steps exactly as the original."""
    method, nets, optimizer, step = setup(name)
    xs, ys, xt, yt = domains(16, np.random.default_rng(3))
    target = target_of(method, xt, yt)
    for _ in range(3):
        step((xs, ys), target, tf.constant(0.5))
    with checkpoint.saved(nets.whole, optimizer, epoch=4) as saved:
        copy = tmp_path / "ckpt"
        import shutil

        shutil.copytree(saved.path, copy)
    from ray.train import Checkpoint

    method2, nets2, optimizer2, step2 = setup(name)
    for network in nets.own:  # a fresh build differs: the restore is what aligns them
        assert len(nets2.own[network].weights) == len(nets.own[network].weights)
    meta = checkpoint.restore(Checkpoint.from_directory(str(copy)), nets2.whole, optimizer2)
    assert meta["epoch"] == 4
    for a, b in zip(nets.whole.get_weights(), nets2.whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    after = float(step((xs, ys), target, tf.constant(0.6))["loss"][0])
    after2 = float(step2((xs, ys), target, tf.constant(0.6))["loss"][0])
    assert after == pytest.approx(after2, rel=1e-6)


@pytest.mark.parametrize("name", sorted(registry()))
def test_init_from_takes_the_shared_networks_of_another_methods_run(name, tmp_path):
    """--init-from: a source-only run's backbone, bottleneck and label head start any
    method; what only the method has keeps its own initial values."""
    from ray.train import Checkpoint

    _, base, base_optimizer, base_step = setup("source-only")
    xs, ys, _, _ = domains(16, np.random.default_rng(4))
    base_step((xs, ys), (xs,), tf.constant(0.5))
    with checkpoint.saved(base.whole, base_optimizer, epoch=0) as saved:
        import shutil

        shutil.copytree(saved.path, tmp_path / "ckpt")
    method, nets, _, _ = setup(name)
    own = {n: weights(m) for n, m in nets.own.items()}
    taken = checkpoint.take_shared_weights(Checkpoint.from_directory(str(tmp_path / "ckpt")),
                                           nets.whole)
    assert taken >= len(base.label_head.weights) + len(base.bottleneck.weights)
    for a, b in zip(base.label_head.get_weights(), nets.label_head.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(base.bottleneck.get_weights(), nets.bottleneck.get_weights()):
        np.testing.assert_array_equal(a, b)
    for network, values in own.items():
        assert not changed(values, nets.own[network])


def test_unknown_method_names_the_valid_ones():
    assert {"dann", "source-only", "oracle"} <= set(registry())
    with pytest.raises(UnknownMethod) as error:
        get_method("coral")
    assert str(error.value) == f"--method 'coral': use one of {', '.join(registry())}"


def test_method_options_are_parsed_checked_and_recorded_whole():
    cls = registry()["dann"]
    options = parse_options(cls, ["lambda_max=0.5", "lambda-gamma=3"])
    assert (options.lambda_max, options.lambda_gamma) == (0.5, 3.0)
    assert canonical_options(cls, options) == ["lambda_max=0.5", "lambda_gamma=3.0"]
    assert canonical_options(cls, cls.Options()) == ["lambda_max=1.0", "lambda_gamma=10.0"]
    for texts, fragment in ((["lambda_max"], "use NAME=VALUE"),
                            (["gamma=1"], "its options: lambda_max, lambda_gamma"),
                            (["lambda_max=x"], "takes a float"),
                            (["lambda_max=-1"], "must be >= 0"),
                            (["lambda_max=nan"], "must be finite")):
        with pytest.raises(UsageError, match=fragment):
            parse_options(cls, texts)
    with pytest.raises(UsageError, match="its options: none"):
        parse_options(registry()["source-only"], ["x=1"])
    assert parse_options(registry()["cdan"], ["entropy=true"]).entropy is True


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_method_declares_its_contract(name):
    cls = registry()[name]
    assert set(cls.inputs) <= {"source", "target"} and cls.inputs
    assert cls.domain_norm in NORMS
    assert dataclasses.is_dataclass(cls.Options)
    for field in dataclasses.fields(cls.Options):
        assert field.metadata["help"], f"{name}.{field.name} has no help"


def test_dann_removes_the_domain_offset_from_the_features_source_only_keeps():
    """With one BatchNorm for both domains, so that only the adversarial loss can align."""
    rng = np.random.default_rng(1)
    xs, ys, xt, yt = domains(2048, rng)
    distance = {}
    for name in ("source-only", "dann"):
        _, nets, _, step = setup(name, learning_rate=3e-4, domain_norm="shared")
        for k in range(800):
            rows = slice((k * 16) % 2048, (k * 16) % 2048 + 16)
            step((xs[rows], ys[rows]), (xt[rows],), tf.constant(k / 800, tf.float32))
        zs = nets.features(xs[:600], training=False, domain="source").numpy()
        zt = nets.features(xt[:600], training=False, domain="target").numpy()
        distance[name] = proxy_a_distance(zs, zt)
    assert distance["source-only"] > 1.5, distance
    assert distance["dann"] < distance["source-only"] - 0.5, distance


def test_on_cached_lower_blocks_the_trainable_block_is_adapted_too():
    """--trainable top:1 with the feature cache: block 3's outputs are the inputs, and
    block 4 trains under the adversarial loss like the bottleneck."""

    method = get_method("dann")
    nets = Networks(NetworkPlan("none", (32, 32, 3), 32, "block4_pool", 1, CLASSES, 16,
                                "separate", feature_shape=(4, 4, 256)), method)
    assert {w.path.split("/")[0] for w in nets.backbone.trainable_weights} == {
        "block4_conv1", "block4_conv2", "block4_conv3"}
    step = make_adapt_step(tf.distribute.get_strategy(), nets,
                           make_optimizers(method, nets, 1e-3), method)
    rng = np.random.default_rng(0)
    before = weights(nets.backbone)
    source = (rng.normal(size=(4, 4, 4, 256)).astype(np.float32),
              (np.arange(4) % CLASSES).astype(np.int32))
    terms = step(source, (rng.normal(size=(4, 4, 4, 256)).astype(np.float32),),
                 tf.constant(0.5))
    assert np.isfinite(float(terms["domain_loss"][0]))
    assert changed(before, nets.backbone)


@pytest.mark.parametrize("domain_norm", NORMS)
def test_each_domain_is_normalised_with_its_own_statistics_unless_shared(domain_norm):
    """After one training step a BatchNorm's moving mean is 1% of its batch's mean
    (momentum 0.99, from zero): with separate norms or statistics the target's has moved by
    the target batch's mean alone, with a shared one by the mean of both domains."""
    _, nets, _, step = setup("dann", domain_norm=domain_norm)
    xs, ys, xt, _ = domains(16, np.random.default_rng(0))
    assert (nets.norms["source"] is not nets.norms["target"]) == (domain_norm != "shared")
    hs, ht = nets.bottleneck(xs).numpy(), nets.bottleneck(xt).numpy()  # before the step
    step((xs, ys), (xt,), tf.constant(0.5))
    expected = {"source": hs.mean(0), "target": ht.mean(0)}
    if domain_norm == "shared":
        expected = dict.fromkeys(("source", "target"), np.concatenate([hs, ht]).mean(0))
    for domain, mean in expected.items():
        np.testing.assert_allclose(nets.norms[domain].moving_mean.numpy(), 0.01 * mean,
                                   rtol=1e-4, atol=1e-5)


def test_statistics_mode_scales_and_shifts_the_target_with_the_sources_parameters():
    """AdaBN's normalisation: target features are normalised by the target's statistics,
    then take the source BatchNorm's scale and shift; the target has none of its own."""
    _, nets, _, step = setup("dann", domain_norm="statistics")
    xs, ys, xt, _ = domains(16, np.random.default_rng(0))
    for _ in range(3):
        step((xs, ys), (xt,), tf.constant(0.5))
    assert nets.norms["target"].trainable_weights == []
    source, target = nets.norms["source"], nets.norms["target"]
    h = nets.bottleneck(xt).numpy()
    expected = np.maximum(0, (h - target.moving_mean.numpy())
                          / np.sqrt(target.moving_variance.numpy() + target.epsilon)
                          * source.gamma.numpy() + source.beta.numpy())
    np.testing.assert_allclose(nets.features(xt, training=False, domain="target").numpy(),
                               expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["source-only", "oracle"])
def test_a_method_that_trains_on_one_domain_has_one_norm_for_both(name):
    """It never sees the other domain's training images, so a BatchNorm of that domain
    would keep its initial statistics; the one it trains normalises both."""
    for norm in NORMS:
        _, nets, _, _ = setup(name, domain_norm=norm)
        assert nets.norms["source"] is nets.norms["target"]
