"""Deterministic, seeded image corruptions for shifted target domains (CIFAR-10-C style).

Severity constants are those of Hendrycks & Dietterich (ICLR 2019), as in their
`make_cifar_c.py`, for every corruption they define. Our own choices:
- motion_blur: ImageMagick's one-sided motion blur is re-implemented in numpy (a
  Gaussian-weighted line of 2*radius+1 taps at a random angle in [-45, 45] degrees)
  with the paper's (radius, sigma) pairs; close to, not bit-equal with, Wand.
- grayscale: not in CIFAR-10-C. Blends towards ITU-R 601 luma with weight
  0.2, 0.4, 0.6, 0.8, 1.0 for severities 1-5.
- fog: the plasma fractal is sized to the next power of two >= the image side.

Every function maps a uint8 batch (N, H, W, 3) to a uint8 batch of the same shape,
truncating like the reference's `np.uint8(...)`. Randomness comes from one generator
per image seeded with (seed, the example's id), so the result does not depend on how
a dataset is split into batches or across machines.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from lib.errors import UsageError


class ShiftError(UsageError, ValueError):
    """An unknown shift name or severity: a usage error (exit 2)."""


def _rngs(ids, seed: int) -> list[np.random.Generator]:
    keys = (int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "little") for i in ids)
    return [np.random.default_rng([seed, key]) for key in keys]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def _filter(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel of (N, H, W, C) with a 2-D kernel, reflect-101 borders (cv2's)."""
    kh, kw = kernel.shape
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    return np.einsum("nhwcij,ij->nhwc", windows, kernel, optimize=True)


def _rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    v = x.max(axis=-1)
    delta = v - x.min(axis=-1)
    s = np.divide(delta, v, out=np.zeros_like(v), where=v > 0)
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    h = np.select([r == v, g == v], [(g - b) / safe, 2.0 + (b - r) / safe], 4.0 + (r - g) / safe)
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], axis=-1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    sector = (i.astype(int) % 6)[..., None]
    choices = [np.stack(c, axis=-1) for c in
               ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    return np.select([sector == k for k in range(6)], choices)


def gaussian_noise(x, severity, rngs):
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    x = x / 255.0
    noise = np.stack([r.normal(scale=c, size=x.shape[1:]) for r in rngs])
    return _to_uint8(x + noise)


def shot_noise(x, severity, rngs):
    c = [500, 250, 100, 75, 50][severity - 1]
    x = x / 255.0
    return _to_uint8(np.stack([r.poisson(img * c) for r, img in zip(rngs, x)]) / c)


def impulse_noise(x, severity, rngs):
    # skimage's 's&p': each value independently becomes 0 or 1 with probability `amount`.
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    x = x / 255.0
    hit = np.stack([r.random(x.shape[1:]) for r in rngs]) < c
    salt = np.stack([r.random(x.shape[1:]) for r in rngs]) < 0.5
    return _to_uint8(np.where(hit, salt.astype(x.dtype), x))


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float64)
    disk /= disk.sum()
    # cv2.GaussianBlur(ksize=(3, 3), sigmaX=alias_blur)
    g = np.exp(-((np.arange(3) - 1) ** 2) / (2 * alias_blur**2))
    g /= g.sum()
    disk = _filter(disk[None, :, :, None], np.outer(g, g))[0, :, :, 0]
    rows, cols = np.nonzero(disk > 1e-12)
    return disk[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def defocus_blur(x, severity, rngs):
    radius, alias_blur = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    return _to_uint8(_filter(x / 255.0, _disk(radius, alias_blur)))


def motion_blur(x, severity, rngs):
    radius, sigma = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    taps = np.arange(2 * radius + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    n, h, w, _ = x.shape
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    out = np.zeros(x.shape, dtype=np.float64)
    for k, r in enumerate(rngs):
        angle = np.deg2rad(r.uniform(-45, 45))
        dy = np.rint(taps * np.sin(angle)).astype(int)
        dx = np.rint(taps * np.cos(angle)).astype(int)
        ys = np.clip(rows[None] + dy[:, None, None], 0, h - 1)
        xs = np.clip(cols[None] + dx[:, None, None], 0, w - 1)
        out[k] = np.einsum("t,thwc->hwc", weights, x[k][ys, xs] / 255.0)
    return _to_uint8(out)


def contrast(x, severity, rngs):
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    x = x / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)
    return _to_uint8((x - means) * c + means)


def brightness(x, severity, rngs):
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    hsv = _rgb_to_hsv(x / 255.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return _to_uint8(_hsv_to_rgb(hsv))


def saturate(x, severity, rngs):
    scale, shift = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    hsv = _rgb_to_hsv(x / 255.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * scale + shift, 0, 1)
    return _to_uint8(_hsv_to_rgb(hsv))


def _plasma_fractal(mapsize: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square height map in [0, 1] (the reference's `plasma_fractal`)."""
    grid = np.zeros((mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled_mean(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:mapsize:step, 0:mapsize:step]
        squares = corners + np.roll(corners, -1, axis=0)
        squares += np.roll(squares, -1, axis=1)
        grid[half:mapsize:step, half:mapsize:step] = wibbled_mean(squares)
        centres = grid[half:mapsize:step, half:mapsize:step]
        corners = grid[0:mapsize:step, 0:mapsize:step]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0:mapsize:step, half:mapsize:step] = wibbled_mean(left)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half:mapsize:step, 0:mapsize:step] = wibbled_mean(top)
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


def fog(x, severity, rngs):
    strength, decay = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    _, h, w, _ = x.shape
    mapsize = 1 << int(np.ceil(np.log2(max(h, w))))
    x = x / 255.0
    max_val = x.max(axis=(1, 2, 3), keepdims=True)
    haze = np.stack([_plasma_fractal(mapsize, decay, r)[:h, :w, None] for r in rngs])
    return _to_uint8((x + strength * haze) * max_val / (max_val + strength))


def _per_image_pil(x, fn):
    return np.stack([np.asarray(fn(Image.fromarray(img))) for img in x]).astype(np.uint8)


def pixelate(x, severity, rngs):
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[1:3]
    small = (int(w * c), int(h * c))
    return _per_image_pil(x, lambda im: im.resize(small, Image.BOX).resize((w, h), Image.BOX))


def jpeg_compression(x, severity, rngs):
    quality = [80, 65, 58, 50, 40][severity - 1]

    def roundtrip(im):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        return Image.open(buf).convert("RGB")

    return _per_image_pil(x, roundtrip)


def grayscale(x, severity, rngs):
    weight = [0.2, 0.4, 0.6, 0.8, 1.0][severity - 1]
    x = x / 255.0
    luma = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    return _to_uint8((1 - weight) * x + weight * luma)


CORRUPTIONS = {f.__name__: f for f in (
    gaussian_noise, shot_noise, impulse_noise, defocus_blur, motion_blur, contrast,
    brightness, saturate, fog, pixelate, jpeg_compression, grayscale,
)}


@dataclass(frozen=True)
class Shift:
    name: str
    severity: int

    def __str__(self) -> str:
        return f"{self.name}@{self.severity}"

    def apply(self, images: np.ndarray, example_ids, seed: int) -> np.ndarray:
        """Corrupt a uint8 (N, H, W, 3) batch; row i's randomness depends only on (seed, ids[i])."""
        return CORRUPTIONS[self.name](images, self.severity, _rngs(example_ids, seed))


def parse_shift(text: str) -> Shift:
    name, _, severity = text.partition("@")
    if name not in CORRUPTIONS:
        raise ShiftError(f"unknown shift {name!r}; valid: {', '.join(CORRUPTIONS)}")
    if not severity.isdigit() or not 1 <= int(severity) <= 5:
        raise ShiftError(f"shift {text!r}: severity must be an integer 1-5, as in NAME@3")
    return Shift(name, int(severity))
