"""From a URI and options to a Ray Dataset of image rows: select, relabel, shift.

`plan_images` does everything that needs no pixels (open, list, select, compute the
identity key), so jobs can fail fast or skip work before Ray starts; `ImagePlan.load`
builds the Dataset.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lib.data.classes import canonical_order, check_known
from lib.data.columns import column_to_images, images_to_column
from lib.data.shifts import Shift
from lib.data.sources import open_source
from lib.data.uri import DatasetURI

_PIXEL_CODE = hashlib.sha256("".join(inspect.getsource(importlib.import_module(m)) for m in (
    "lib.data.sources", "lib.data.folder", "lib.data.shifts", "lib.data.columns",
    "lib.data.classes", __name__)).encode()).hexdigest()


@dataclass(frozen=True)
class ImagePlan:
    uri: DatasetURI
    shift: Shift | None
    seed: int
    class_names: tuple[str, ...]
    counts: dict[str, int]
    key: str  # changes whenever the rows load() would produce could change
    source: object
    indices: np.ndarray
    label_map: np.ndarray | None  # source label -> our label, when --classes reorders

    @property
    def num_rows(self) -> int:
        return len(self.indices)

    def identity(self) -> str:
        """Names the rows load() produces without producing them: the plan's key plus the
        code that turns files into pixels (a changed decoder or corruption is a new
        identity), so caches keyed by it never go stale and a hit reads no image."""
        return hashlib.sha256((self.key + _PIXEL_CODE).encode()).hexdigest()[:20]

    def preflight(self) -> None:
        """Fail on bad input now, before any worker or output is touched (a folder's images
        are decoded and checked in Ray Data tasks: Ray must be up)."""
        self.source.preflight(self.indices)

    def image_shape(self) -> tuple[int, int, int]:
        """The rows' (height, width, channels) (a folder is decoded and checked for it)."""
        return tuple(self.source.image_shape(self.indices))

    def load(self):
        """The selected rows as a lazy Ray Dataset with `columns.SCHEMA`, and the image shape."""
        ds, shape = self.source.read(self.indices)
        if self.label_map is not None:
            ds = ds.map_batches(_relabel, batch_format="pyarrow",
                                fn_kwargs={"label_map": self.label_map,
                                           "class_names": self.class_names})
        if self.shift is not None:
            ds = ds.map_batches(_apply_shift, batch_format="pyarrow",
                                fn_kwargs={"shift": self.shift, "seed": self.seed, "shape": shape})
        return ds, shape


def plan_images(uri: DatasetURI, shift: Shift | None, *, limit_per_class: int | None,
                classes: tuple[str, ...] | None, seed: int, image_size: int,
                part: tuple[int, int] | None = None) -> ImagePlan:
    """`part=(k, n)` keeps every n-th image of each class from the k-th on, before the
    limit: parts with different k never share an image (disjoint source and target
    subsets of one dataset)."""
    source = open_source(uri, image_size)
    cand = source.candidates()
    labels, class_names, label_map = cand.labels, cand.class_names, None
    if classes is not None:
        check_known(classes, cand.class_names, str(uri))
        class_names = canonical_order(classes)
        label_map = np.array([class_names.index(c) if c in class_names else -1
                              for c in cand.class_names])
        labels = label_map[cand.labels]
    first, step = part or (0, 1)
    chosen = [np.flatnonzero(labels == c)[first::step][:limit_per_class]
              for c in range(len(class_names))]
    indices = np.sort(np.concatenate(chosen))
    counts = {name: int(len(ix)) for name, ix in zip(class_names, chosen)}
    key = hashlib.sha256(repr((
        str(uri), source.fingerprint(), str(shift), seed if shift else None, image_size,
        class_names, limit_per_class) + ((part,) if part else ())).encode()).hexdigest()[:16]
    return ImagePlan(uri, shift, seed, class_names, counts, key, source, indices, label_map)


def _relabel(batch: pa.Table, label_map: np.ndarray, class_names) -> pa.Table:
    labels = label_map[batch.column("label").to_numpy()]
    return (batch.set_column(1, "label", pa.array(labels, pa.int16()))
                 .set_column(2, "class_name", pa.array([class_names[i] for i in labels])))


def _apply_shift(batch: pa.Table, shift: Shift, seed: int, shape) -> pa.Table:
    images = column_to_images(batch.column("image"), shape)
    shifted = shift.apply(images, batch.column("example_id").to_pylist(), seed)
    return batch.set_column(3, "image", images_to_column(shifted))


DIGEST_MODULUS = 2 ** 256


def digest_sum(batch: pa.Table) -> pa.Table:
    """A block's rows: how many, and their digests (one sha256 per row over id, label and
    pixels) summed as integers mod 2^256."""
    rows = zip(*(batch.column(c).to_pylist() for c in ("example_id", "label", "image")))
    total = sum(int.from_bytes(hashlib.sha256(f"{i}\0{y}\0".encode() + img).digest(), "big")
                for i, y, img in rows) % DIGEST_MODULUS
    return pa.table({"rows": [batch.num_rows], "sum": [total.to_bytes(32, "big")]})


def content_checksum(ds) -> str:
    """sha256 of the rows' count and their digests' sum mod 2^256 (a multiset hash): the
    same rows give the same checksum however they are ordered or split into blocks."""
    # A sum, not a sort: the sort (an all-to-all exchange) was a prepare driver's peak, and
    # grew with the images (50,000 -> 200,000: +77 MB, 2026-12-07); the sum sends the
    # driver a row per block.
    rows, total = 0, 0
    for part in ds.map_batches(digest_sum, batch_size=None, batch_format="pyarrow").iter_rows():
        rows += part["rows"]
        total += int.from_bytes(part["sum"], "big")
    payload = f"rows {rows} sum ".encode() + (total % DIGEST_MODULUS).to_bytes(32, "big")
    return hashlib.sha256(payload).hexdigest()
