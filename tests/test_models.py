import numpy as np
import pytest

from lib.models import (
    ModelSpecError,
    check_feature_layer,
    classic_head,
    classifier,
    feature_extractor,
    feature_shape,
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


def test_specs_are_checked():
    assert [parse_trainable(t) for t in ("head", "top:2", "all")] == [0, 2, 5]
    for bad in ("top:0", "top:6", "some", "top:x"):
        with pytest.raises(ModelSpecError):
            parse_trainable(bad)
    check_feature_layer("block3_conv3")
    with pytest.raises(ModelSpecError):
        check_feature_layer("block2_conv3")
