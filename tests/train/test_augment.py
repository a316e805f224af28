"""Each augmented image is its own image, maybe mirrored, shifted by at most 4 pixels with
zeros shifted in; images draw their own flip and shift."""

import numpy as np
import tensorflow as tf

from lib.train.augment import MAX_SHIFT, flip_and_shift


def variants(image: np.ndarray) -> list[tuple[bool, int, int, np.ndarray]]:
    """Every (flipped, dy, dx, result) the augmentation may give for this image."""
    height, width = image.shape[:2]
    found = []
    for flipped in (False, True):
        source = image[:, ::-1] if flipped else image
        padded = np.pad(source, [(MAX_SHIFT, MAX_SHIFT), (MAX_SHIFT, MAX_SHIFT), (0, 0)])
        for top in range(2 * MAX_SHIFT + 1):
            for left in range(2 * MAX_SHIFT + 1):
                found.append((flipped, top - MAX_SHIFT, left - MAX_SHIFT,
                              padded[top:top + height, left:left + width]))
    return found


def test_every_image_is_its_own_flipped_or_shifted():
    tf.random.set_seed(0)
    # Distinct positive values everywhere, so no two transforms give the same image.
    images = np.random.default_rng(0).uniform(1, 2, (64, 12, 10, 3)).astype(np.float32)
    out = flip_and_shift(tf.constant(images)).numpy()
    assert out.shape == images.shape and out.dtype == np.float32
    drawn = []
    for image, result in zip(images, out):
        matches = [(f, dy, dx) for f, dy, dx, v in variants(image) if np.array_equal(v, result)]
        assert len(matches) == 1, "not a flip and shift of its own image"
        drawn.append(matches[0])
    flips = [f for f, _, _ in drawn]
    assert 16 < sum(flips) < 48  # each image draws its own coin
    assert len({(dy, dx) for _, dy, dx in drawn}) > 20  # and its own shift
    assert {dy for _, dy, _ in drawn} == set(range(-MAX_SHIFT, MAX_SHIFT + 1))


def test_compiles_for_an_unknown_batch_size():
    step = tf.function(flip_and_shift,
                       input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
    assert step(tf.zeros([5, 32, 32, 3])).shape == (5, 32, 32, 3)
