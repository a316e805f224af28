"""Checkpoints: a run resumes its own state; another model takes the weights it shares."""

import numpy as np
import pytest

from lib.errors import UsageError
from lib.models import backbone_tail, classic_head, classifier, feature_extractor, feature_shape
from lib.train import checkpoint


def adam(model):
    import keras

    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    return optimizer


def on_cache(layer, top_blocks, classes=10):
    tail = backbone_tail("none", feature_shape(32, "block3_pool" if top_blocks else layer), 32,
                         layer, top_blocks)
    return classifier(tail, classic_head(tail.output.shape[1:], classes))


def test_resume_restores_weights_optimizer_and_epoch():
    import keras

    keras.utils.set_random_seed(1)
    model = on_cache("block4_pool", 1)
    optimizer = adam(model)
    optimizer.iterations.assign(7)
    with checkpoint.saved(model, [optimizer], epoch=3) as saved:
        keras.utils.set_random_seed(2)
        other = on_cache("block4_pool", 1)
        other_optimizer = adam(other)
        assert checkpoint.restore(saved, other, [other_optimizer])["epoch"] == 3
    for mine, theirs in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert int(other_optimizer.iterations.numpy()) == 7


def test_stage_two_takes_the_head_of_a_run_on_cached_features():
    """Stage one trained only the head (its checkpoint holds the head); stage two trains
    block 4 too: it starts from that head, its blocks from --weights."""
    head_only = on_cache("block4_pool", 0)
    assert len(head_only.weights) == 4
    stage_two = classifier(feature_extractor("none", (32, 32, 3), 32, "block4_pool"),
                           classic_head(feature_shape(32, "block4_pool"), 10))
    blocks_before = stage_two.get_layer("vgg16").get_weights()
    with checkpoint.saved(head_only, [adam(head_only)], epoch=9) as saved:
        assert checkpoint.take_shared_weights(saved, stage_two) == 4
    for mine, theirs in zip(stage_two.get_layer("head").get_weights(), head_only.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    for before, after in zip(blocks_before, stage_two.get_layer("vgg16").get_weights()):
        np.testing.assert_array_equal(before, after)


def test_weights_that_cannot_be_shared_are_errors():
    head_only = on_cache("block4_pool", 0)
    with checkpoint.saved(head_only, [adam(head_only)], epoch=0) as saved:
        with pytest.raises(UsageError, match="head_dense/kernel is \\(2048, 256\\) in the "
                                             "checkpoint, \\(512, 256\\) here"):
            checkpoint.take_shared_weights(saved, on_cache("block5_pool", 0))
        with pytest.raises(UsageError, match="shares no weight"):
            checkpoint.take_shared_weights(saved, feature_extractor("none", (32, 32, 3), 32,
                                                                    "block2_pool"))


def test_a_checkpoint_without_weight_names_is_an_error_saying_so(tmp_path):
    import json

    from ray.train import Checkpoint

    np.savez(tmp_path / checkpoint.STATE, w0=np.zeros(3))
    (tmp_path / checkpoint.META).write_text(json.dumps({"epoch": 0}))
    with pytest.raises(UsageError, match="no weight names"):
        checkpoint.take_shared_weights(Checkpoint.from_directory(str(tmp_path)),
                                       on_cache("block4_pool", 0))
