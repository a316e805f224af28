import colorsys
import io

import numpy as np
import pytest
from PIL import Image

from lib.data import shifts
from lib.data.shifts import CORRUPTIONS, Shift, ShiftError, parse_shift

REQUIRED = {"gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "motion_blur",
            "contrast", "brightness", "saturate", "fog", "pixelate", "jpeg_compression",
            "grayscale"}


@pytest.fixture(scope="module")
def images(cifar_jpeg):
    files = sorted((cifar_jpeg / "test/ship").iterdir())[:12]
    return np.stack([np.asarray(Image.open(f)) for f in files])


IDS = [f"test/{i:06d}" for i in range(12)]


def test_all_required_corruptions_exist():
    assert REQUIRED <= set(CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_dtype_and_change(name, images):
    for severity in (1, 5):
        out = Shift(name, severity).apply(images, IDS, seed=0)
        assert out.dtype == np.uint8 and out.shape == images.shape
        assert np.abs(out.astype(int) - images).mean() > 0.5


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_deterministic_and_independent_of_batching(name, images):
    shift = Shift(name, 3)
    whole = shift.apply(images, IDS, seed=7)
    np.testing.assert_array_equal(whole, shift.apply(images, IDS, seed=7))
    # The same image alone, or in another batch, gets the same corruption.
    np.testing.assert_array_equal(whole[5:6], shift.apply(images[5:6], IDS[5:6], seed=7))
    np.testing.assert_array_equal(whole[[9, 2]], shift.apply(images[[9, 2]], [IDS[9], IDS[2]], 7))


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise",
                                  "motion_blur", "fog"])
def test_random_corruptions_follow_the_seed(name, images):
    a = Shift(name, 3).apply(images, IDS, seed=1)
    b = Shift(name, 3).apply(images, IDS, seed=2)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - {"saturate"}))
def test_severity_5_hurts_more_than_1(name, images):
    # saturate is excluded: in CIFAR-10-C its severities 1-2 desaturate, 3-5 oversaturate.
    def damage(severity):
        return np.abs(Shift(name, severity).apply(images, IDS, 0).astype(int) - images).mean()

    assert damage(5) > damage(1)


def test_contrast_is_the_papers_formula(images):
    out = Shift("contrast", 5).apply(images, IDS, 0)
    x = images / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)
    expected = (np.clip((x - means) * 0.15 + means, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_gaussian_noise_has_the_papers_scale(images):
    flat = np.full((64, 32, 32, 3), 128, np.uint8)
    out = Shift("gaussian_noise", 5).apply(flat, [str(i) for i in range(64)], 0)
    assert abs((out.astype(float) - 128).std() / 255 - 0.10) < 0.005


def test_hsv_round_trip(images):
    x = images / 255.0
    np.testing.assert_allclose(shifts._hsv_to_rgb(shifts._rgb_to_hsv(x)), x, atol=1e-9)


def test_grayscale_5_has_equal_channels(images):
    out = Shift("grayscale", 5).apply(images, IDS, 0).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1
    assert np.abs(out[..., 1] - out[..., 2]).max() <= 1


def test_parse():
    assert parse_shift("fog@4") == Shift("fog", 4)
    assert str(parse_shift("jpeg_compression@1")) == "jpeg_compression@1"
    with pytest.raises(ShiftError, match="valid: gaussian_noise"):
        parse_shift("snowstorm@2")
    for bad in ("fog@0", "fog@6", "fog", "fog@x"):
        with pytest.raises(ShiftError, match="severity"):
            parse_shift(bad)


# CIFAR-10-C's severity constants, severities 1-5, from Hendrycks & Dietterich's generator:
# github.com/hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py (commit ca36008).
# ImageNet-C (make_imagenet_c.py in the same folder) uses larger ones for 224-pixel images.
CIFAR_C = {
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],  # radius, alias blur
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],                 # radius, sigma
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],           # scale, shift
    "fog": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],               # strength, decay
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "jpeg_compression": [80, 65, 58, 50, 40],
}
SEVERITY = pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])


def test_the_reference_table_covers_every_cifar_c_corruption_we_have():
    assert set(CIFAR_C) == set(CORRUPTIONS) - {"grayscale"}


def _generators(n):
    return [np.random.default_rng(1000 + i) for i in range(n)]


def _as_reference_saves(x):
    """make_cifar_c.py's np.uint8(np.clip(x, 0, 1) * 255): truncation, not rounding."""
    return np.uint8(np.clip(x, 0, 1) * 255)


def _assert_truncates(out, exact):
    """out is exact rounded down to uint8. The 1e-6 slack: a value that is an integer on paper
    (101 = 134 - 1.5 * 22) may come out a bit under it, by another order of float operations."""
    out = out.astype(float)
    assert np.all(out <= exact + 1e-6) and np.all(out > exact - 1 - 1e-6)


@SEVERITY
def test_gaussian_noise_is_the_reference_with_the_same_draws(severity, images):
    c = CIFAR_C["gaussian_noise"][severity - 1]
    expected = [_as_reference_saves(img / 255.0 + g.normal(size=img.shape, scale=c))
                for img, g in zip(images, _generators(len(images)))]
    out = shifts.gaussian_noise(images, severity, _generators(len(images)))
    np.testing.assert_array_equal(out, np.stack(expected))


@SEVERITY
def test_shot_noise_is_the_reference_with_the_same_draws(severity, images):
    c = CIFAR_C["shot_noise"][severity - 1]
    expected = [_as_reference_saves(g.poisson(img / 255.0 * c) / c)
                for img, g in zip(images, _generators(len(images)))]
    out = shifts.shot_noise(images, severity, _generators(len(images)))
    np.testing.assert_array_equal(out, np.stack(expected))


@SEVERITY
def test_impulse_noise_replaces_the_reference_fraction_with_salt_or_pepper(severity):
    # skimage's s&p draws differently from ours, so compare the distribution: on a flat grey
    # image every changed value is a hit. 196608 values: the fraction's standard error is at
    # most 0.0006, and neighbouring severities are at least 0.01 apart.
    flat = np.full((64, 32, 32, 3), 128, np.uint8)
    out = shifts.impulse_noise(flat, severity, _generators(64))
    hit = out != 128
    assert hit.mean() == pytest.approx(CIFAR_C["impulse_noise"][severity - 1], abs=0.003)
    assert set(np.unique(out[hit])) == {0, 255}
    assert (out[hit] == 255).mean() == pytest.approx(0.5, abs=0.05)


def _reference_defocus_kernel(radius, alias_blur):
    """make_cifar_c.py's disk(): a normalised disk on a 17x17 grid, then
    cv2.GaussianBlur(ksize=(3, 3), sigmaX=alias_blur)."""
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * alias_blur**2))
    taps /= taps.sum()
    padded = np.pad(disk, 1)  # the disk stays well inside the grid: any border rule will do
    return sum(taps[i] * taps[j] * padded[i:i + 17, j:j + 17] for i in range(3) for j in range(3))


@SEVERITY
def test_defocus_blur_spreads_a_point_into_the_reference_kernel(severity):
    point = np.zeros((1, 40, 40, 3), np.uint8)
    point[0, 20, 20] = 255
    out = shifts.defocus_blur(point, severity, _generators(1))[0, ..., 0]
    expected = np.zeros((40, 40))
    expected[12:29, 12:29] = 255 * _reference_defocus_kernel(*CIFAR_C["defocus_blur"][severity - 1])
    _assert_truncates(out, expected)


class _FixedAngle:
    """A stand-in generator: motion_blur's only draw is its angle, uniform in [-45, 45]."""

    def uniform(self, low, high):
        assert (low, high) == (-45, 45)
        return 0.0


@SEVERITY
def test_motion_blur_smears_a_point_along_imagemagicks_gaussian_line(severity):
    radius, sigma = CIFAR_C["motion_blur"][severity - 1]
    # MagickMotionBlurImage weights taps 0..2*radius by exp(-t^2 / (2 sigma^2)), normalised;
    # at angle 0 tap t reads t pixels to the right, so a point lights the t-th pixel to its left.
    t = np.arange(2 * radius + 1)
    weights = np.exp(-(t**2) / (2 * sigma**2))
    weights /= weights.sum()
    point = np.zeros((1, 48, 48, 3), np.uint8)
    point[0, 24, 30] = 255
    out = shifts.motion_blur(point, severity, [_FixedAngle()])[0, ..., 0]
    expected = np.zeros((48, 48))
    expected[24, 30 - t] = 255 * weights
    _assert_truncates(out, expected)
    # Taps below 1/255 vanish in uint8, so the radius barely shows above; a point bright
    # enough to saturate every tap shows the whole line, 2 * radius + 1 pixels long.
    blazing = np.zeros((1, 48, 48, 3))
    blazing[0, 24, 30] = 1e300
    lit = shifts.motion_blur(blazing, severity, [_FixedAngle()])[0, ..., 0] > 0
    assert np.flatnonzero(lit[24]).tolist() == list(range(30 - 2 * radius, 31))
    assert lit.sum() == 2 * radius + 1


@SEVERITY
def test_contrast_is_the_reference_at_every_severity(severity, images):
    x = images / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)
    expected = _as_reference_saves((x - means) * CIFAR_C["contrast"][severity - 1] + means)
    np.testing.assert_array_equal(Shift("contrast", severity).apply(images, IDS, 0), expected)


def _via_hsv(images, change):
    """Per pixel through colorsys (skimage's rgb2hsv/hsv2rgb conventions): change(h, s, v).
    Returns the exact values, before make_cifar_c.py truncates them to uint8."""
    x = images / 255.0
    out = np.array([colorsys.hsv_to_rgb(*change(*colorsys.rgb_to_hsv(*px)))
                    for px in x.reshape(-1, 3)])
    return np.clip(out.reshape(x.shape), 0, 1) * 255


@SEVERITY
def test_brightness_adds_the_reference_constant_to_value(severity, images):
    c = CIFAR_C["brightness"][severity - 1]
    expected = _via_hsv(images[:4], lambda h, s, v: (h, s, min(max(v + c, 0), 1)))
    _assert_truncates(Shift("brightness", severity).apply(images[:4], IDS[:4], 0), expected)


@SEVERITY
def test_saturate_scales_and_shifts_saturation_by_the_reference_constants(severity, images):
    scale, shift = CIFAR_C["saturate"][severity - 1]
    expected = _via_hsv(images[:4], lambda h, s, v: (h, min(max(s * scale + shift, 0), 1), v))
    _assert_truncates(Shift("saturate", severity).apply(images[:4], IDS[:4], 0), expected)


def _reference_plasma_fractal(mapsize, decay, rng):
    """make_cifar_c.py's plasma_fractal, drawing from rng instead of np.random."""
    grid = np.zeros((mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled_mean(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:mapsize:step, 0:mapsize:step]
        square_sum = corners + np.roll(corners, shift=-1, axis=0)
        square_sum += np.roll(square_sum, shift=-1, axis=1)
        grid[half:mapsize:step, half:mapsize:step] = wibbled_mean(square_sum)
        centres = grid[half:mapsize:step, half:mapsize:step]
        corners = grid[0:mapsize:step, 0:mapsize:step]
        left = (centres + np.roll(centres, 1, axis=0)) + (corners + np.roll(corners, -1, axis=1))
        grid[0:mapsize:step, half:mapsize:step] = wibbled_mean(left)
        top = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=0))
        grid[half:mapsize:step, 0:mapsize:step] = wibbled_mean(top)
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


@SEVERITY
def test_fog_is_the_reference_with_the_same_draws(severity, images):
    strength, decay = CIFAR_C["fog"][severity - 1]
    expected = []
    for img, g in zip(images / 255.0, _generators(len(images))):
        max_val = img.max()
        haze = _reference_plasma_fractal(32, decay, g)[:32, :32, None]
        expected.append(np.clip((img + strength * haze) * max_val / (max_val + strength), 0, 1) * 255)
    _assert_truncates(shifts.fog(images, severity, _generators(len(images))), np.stack(expected))


@SEVERITY
def test_pixelate_is_the_references_box_resize(severity, images):
    side = int(32 * CIFAR_C["pixelate"][severity - 1])
    expected = [np.asarray(Image.fromarray(img).resize((side, side), Image.BOX).resize((32, 32), Image.BOX))
                for img in images]
    np.testing.assert_array_equal(Shift("pixelate", severity).apply(images, IDS, 0), np.stack(expected))


@SEVERITY
def test_jpeg_compression_uses_the_reference_quality(severity, images):
    expected = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=CIFAR_C["jpeg_compression"][severity - 1])
        expected.append(np.asarray(Image.open(buf).convert("RGB")))
    np.testing.assert_array_equal(Shift("jpeg_compression", severity).apply(images, IDS, 0),
                                  np.stack(expected))
