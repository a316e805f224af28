import numpy as np
import pytest

from lib.models import (
    ModelSpecError,
    backbone_tail,
    check_feature_layer,
    classic_head,
    classifier,
    feature_extractor,
    feature_shape,
    frozen_cut,
    hed_conv_layers,
    parse_trainable,
    set_trainable,
    vgg16_base,
    weights_identity,
)


def test_hed_weights_fill_every_vgg16_conv_kernel():
    import keras

    ours = [layer for layer in vgg16_base("hed", (32, 32, 3)).layers
            if isinstance(layer, keras.layers.Conv2D)]
    theirs = hed_conv_layers()
    assert len(ours) == len(theirs) == 13
    for mine, hed in zip(ours, theirs):
        assert mine.kernel.shape == hed.kernel.shape
        np.testing.assert_array_equal(mine.kernel.numpy(), hed.kernel.numpy())
        np.testing.assert_array_equal(mine.bias.numpy(), hed.bias.numpy())
    random_init = vgg16_base("none", (32, 32, 3)).get_layer("block3_conv1").kernel.numpy()
    assert not np.array_equal(random_init, ours[4].kernel.numpy())


def test_hed_weights_load_under_mixed_bfloat16():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        base = vgg16_base("hed", (32, 32, 3))
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"  # restored
    finally:
        keras.mixed_precision.set_global_policy("float32")
    np.testing.assert_array_equal(base.get_layer("block5_conv3").kernel.numpy(),
                                  hed_conv_layers()[-1].kernel.numpy())
    assert base.get_layer("block5_conv3").compute_dtype == "bfloat16"


def test_weights_file_round_trip(tmp_path):
    path = tmp_path / "mine.weights.h5"
    vgg16_base("hed", (32, 32, 3)).save_weights(path)
    loaded = vgg16_base(str(path), (32, 32, 3))
    np.testing.assert_array_equal(loaded.get_layer("block5_conv3").kernel.numpy(),
                                  hed_conv_layers()[-1].kernel.numpy())
    assert weights_identity(str(path)).startswith("file:")
    assert weights_identity("hed") == "hed"


@pytest.mark.parametrize("size,layer", [(32, "block5_pool"), (32, "block4_pool"),
                                        (64, "block4_pool"), (32, "block3_conv2")])
def test_feature_shape_is_what_the_model_outputs(size, layer):
    extractor = feature_extractor("none", (32, 32, 3), size, layer)
    assert tuple(extractor.output.shape[1:]) == feature_shape(size, layer)
    out = extractor(np.zeros((2, 32, 32, 3), np.float32))  # 32x32 in, upsampled inside
    assert tuple(out.shape) == (2, *feature_shape(size, layer))


def test_trainable_blocks_count_back_from_the_cut():
    extractor = feature_extractor("none", (32, 32, 3), 32, "block4_pool")
    set_trainable(extractor, 0)
    assert not extractor.trainable_weights
    set_trainable(extractor, 2)
    names = {w.path.split("/")[0] for w in extractor.trainable_weights}
    assert names == {"block3_conv1", "block3_conv2", "block3_conv3", "block4_conv1",
                     "block4_conv2", "block4_conv3"}
    model = classifier(extractor, classic_head(extractor.output.shape[1:], 10))
    assert len(model.trainable_weights) == 12 + 4  # 6 convs + Dense(256) + Dense(10)
    assert model.output.shape[-1] == 10
    # --trainable all (5) below block5: every block the cut holds, not the last alone.
    set_trainable(extractor, 5)
    assert {w.path.split("_")[0] for w in extractor.trainable_weights} == {
        "block1", "block2", "block3", "block4"}
    assert len(extractor.trainable_weights) == 2 * 10  # 10 convs, kernel and bias each


def test_the_frozen_cut_is_below_the_lowest_trainable_block():
    assert frozen_cut("block4_pool", 0) == "block4_pool"
    assert frozen_cut("block4_pool", 1) == "block3_pool"
    assert frozen_cut("block4_pool", 2) == "block2_pool"
    assert frozen_cut("block4_conv2", 1) == "block3_pool"  # a block cut inside trains whole
    assert frozen_cut("block4_pool", 4) is None  # every block trains: nothing to cache
    assert frozen_cut("block2_pool", 5) is None


@pytest.mark.parametrize("layer,top_blocks", [("block4_pool", 2), ("block4_conv2", 1),
                                              ("block4_pool", 0)])
def test_the_tail_on_cached_features_trains_like_the_whole_backbone(layer, top_blocks):
    """The fast path with trainable blocks: the frozen blocks' output computed once, the
    rest on top. Same outputs, same trainable weights, same gradients as the image path."""
    import tensorflow as tf

    whole = feature_extractor("hed", (32, 32, 3), 32, layer)
    set_trainable(whole, top_blocks)
    cut = frozen_cut(layer, top_blocks)
    frozen = feature_extractor("hed", (32, 32, 3), 32, cut)
    tail = backbone_tail("hed", feature_shape(32, cut), 32, layer, top_blocks)
    images = np.random.default_rng(0).uniform(-120, 130, (4, 32, 32, 3)).astype(np.float32)
    cached = frozen(images)

    def loss_and_grads(model, x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True)))
        return loss, dict(zip([w.path for w in model.trainable_weights],
                              tape.gradient(loss, model.trainable_weights)))

    whole_loss, whole_grads = loss_and_grads(whole, images)
    tail_loss, tail_grads = loss_and_grads(tail, cached)
    np.testing.assert_allclose(tail_loss.numpy(), whole_loss.numpy(), rtol=1e-5)
    assert sorted(tail_grads) == sorted(whole_grads)
    assert len(tail_grads) == 2 * (3 * top_blocks if layer.endswith("pool") else 2)
    for name, grad in whole_grads.items():
        scale = np.abs(grad.numpy()).max()
        np.testing.assert_allclose(tail_grads[name].numpy(), grad.numpy(), atol=1e-5 * scale)
    tail_names = {w.path for w in tail.weights}
    assert tail_names <= {w.path for w in whole.weights}  # checkpoints share the names


def test_specs_are_checked():
    assert [parse_trainable(t) for t in ("head", "top:2", "all")] == [0, 2, 5]
    for bad in ("top:0", "top:6", "some", "top:x"):
        with pytest.raises(ModelSpecError):
            parse_trainable(bad)
    check_feature_layer("block3_conv3")
    with pytest.raises(ModelSpecError):
        check_feature_layer("block2_conv3")
