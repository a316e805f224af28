"""Analytic FLOPs of VGG16, the numerator of MFU (multiply-add = 2 FLOPs)."""

from __future__ import annotations

# (block, convs, output channels) of VGG16; every conv is 3x3, stride 1, 'same'.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))


def vgg16_forward_flops(image_size: int, feature_layer: str = "block5_pool") -> float:
    """Conv FLOPs per image up to and including `feature_layer` (pools and biases are noise)."""
    block_name, _, kind = feature_layer.partition("_")
    last_block = int(block_name[-1])
    last_conv = 3 if kind == "pool" else int(kind[-1])
    flops, side, channels = 0.0, image_size, 3
    for block, convs, out in VGG16_BLOCKS:
        for conv in range(1, convs + 1):
            if block == last_block and conv > last_conv:
                return flops
            flops += 2 * side * side * 9 * channels * out
            channels = out
        side //= 2
        if block == last_block:
            break
    return flops


def train_step_flops(forward: float) -> float:
    """Forward, plus backward for inputs and weights: the usual 3x."""
    return 3 * forward
