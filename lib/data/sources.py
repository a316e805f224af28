"""Readers for each dataset URI scheme, all yielding rows of `columns.SCHEMA`.

A source is opened in two steps so that bad input fails before any work is spread
out: `candidates()` lists ids and labels in a stable order (cheap, on the driver), and
`read(indices)` builds the Ray Dataset of the chosen rows. Missing or empty inputs
raise NoInputError (exit 66); present but wrong ones raise DataError (exit 65).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lib.data.blocks import in_parts
from lib.data.classes import CIFAR10_CLASSES, STL10_TO_CIFAR10, canonical_order
from lib.data.columns import SCHEMA, Source, images_to_column, listing, make_table
from lib.data.folder import FolderSource
from lib.data.layout import DATA_DIR, MANIFEST, filesystem_for, list_parquet_files, read_manifest
from lib.data.uri import DatasetURI
from lib.errors import DataError, NoInputError, name_some


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise NoInputError(f"{what} not found: {path}")


@dataclass(frozen=True)
class Arrays:
    """What a loader found: the images' (N, H, W, C) shape, labels, class names, the files
    read; and the images in memory, or a picklable `reader(rows)` that a Ray Data task
    calls to read the file itself, `rows` giving the file's row of each of the source's."""

    shape: tuple[int, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    files: list[str]
    images: np.ndarray | None = None
    reader: object = None
    rows: np.ndarray | None = None


def npy_rows(path: str, rows: np.ndarray) -> np.ndarray:
    """Rows of a .npy file (CIFAR-10-C), memory-mapped where they are read."""
    return np.asarray(np.load(path, mmap_mode="r")[rows])


def stl10_rows(path: str, image_size: int, rows: np.ndarray) -> np.ndarray:
    """Rows of an STL-10 release file (each image column-major, channel by channel),
    memory-mapped where they are read and resized to `image_size`."""
    from PIL import Image

    images = np.memmap(path, np.uint8, "r").reshape(-1, 3, 96, 96)[rows].transpose(0, 3, 2, 1)
    if image_size == 96:
        return np.ascontiguousarray(images)
    return np.stack([np.asarray(Image.fromarray(im).resize((image_size, image_size), Image.BICUBIC))
                     for im in images])


class ArraySource(Source):
    """Sources shipped as arrays: Keras CIFAR-10 (in memory, as Keras loads it), STL-10
    binaries and CIFAR-10-C .npy files (only their shape and labels on the driver: Ray
    Data tasks read the chosen rows from the files in chunks)."""

    def __init__(self, uri: DatasetURI, image_size: int):
        self.uri = uri
        self.arrays = arrays = {"cifar10": self._keras_cifar10, "stl10": self._stl10,
                                "cifar10c": self._cifar10c}[uri.scheme](image_size)
        shape, labels, self.class_names = tuple(arrays.shape), arrays.labels, arrays.class_names
        if len(shape) != 4 or shape[-1] != 3 or shape[0] != len(labels):
            raise DataError(f"{uri}: images have shape {shape} for {len(labels)} "
                            "labels; expected (N, H, W, 3)")
        self.labels = np.asarray(labels).reshape(-1).astype(np.int64)
        out_of_range = np.flatnonzero((self.labels < 0) | (self.labels >= len(self.class_names)))
        if len(out_of_range):
            raise DataError(f"{uri}: label out of range 0-{len(self.class_names) - 1} at rows "
                            f"{name_some(out_of_range.tolist())}")
        tag = (f"{uri.corruption}@{uri.severity}" if uri.scheme == "cifar10c"
               else uri.split or "train")
        self.example_ids = tuple(f"{tag}/{i:06d}" for i in range(len(self.labels)))

    def fingerprint(self) -> str:
        stats = [(f, os.path.getsize(f), os.stat(f).st_mtime_ns) for f in self.arrays.files]
        return hashlib.sha256((repr(str(self.uri)) + repr(stats)).encode()).hexdigest()[:16]

    def image_shape(self, indices: np.ndarray) -> tuple[int, int, int]:
        return tuple(self.arrays.shape[1:])

    def read(self, indices: np.ndarray):
        arrays, shape = self.arrays, tuple(self.arrays.shape[1:])

        def part(start: int, stop: int) -> pa.Table:
            chosen = indices[start:stop]
            ids = [self.example_ids[i] for i in chosen]
            if arrays.reader is None:  # in memory: the pixels go with the rows
                return make_table(ids, self.labels[chosen], self.class_names,
                                  arrays.images[chosen])
            return listing(ids, self.labels[chosen], self.class_names).append_column(
                "row", pa.array(arrays.rows[chosen], pa.int64()))

        ds = in_parts(len(indices), part)
        if arrays.reader is not None:
            ds = ds.map_batches(read_rows, fn_kwargs={"reader": arrays.reader}, batch_size=None,
                                batch_format="pyarrow")
        return ds, shape

    def _keras_cifar10(self, image_size):
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        except Exception as e:  # Keras raises a bare Exception for a failed download
            raise NoInputError(
                f"{self.uri}: Keras could not load CIFAR-10 ({' '.join(str(e).split())[:200]}); "
                f"without internet, pre-stage it under KERAS_HOME or use folder: or "
                f"parquet:") from None
        images, labels = (x_test, y_test) if self.uri.split == "test" else (x_train, y_train)
        return Arrays(images.shape, labels, CIFAR10_CLASSES, [], images=images)

    def _stl10(self, image_size):
        base = self.uri.path
        if os.path.isdir(os.path.join(base, "stl10_binary")):
            base = os.path.join(base, "stl10_binary")
        x_path = os.path.join(base, f"{self.uri.split}_X.bin")
        y_path = os.path.join(base, f"{self.uri.split}_y.bin")
        _require_file(x_path, "STL-10 images")
        _require_file(y_path, "STL-10 labels")
        size = os.path.getsize(x_path)
        stl_labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1
        if size != len(stl_labels) * 3 * 96 * 96:
            raise DataError(f"{x_path}: {size} bytes do not hold {len(stl_labels)} 96x96 RGB images")
        if len(stl_labels) and (stl_labels.min() < 0 or stl_labels.max() > 9):
            raise DataError(f"{y_path}: labels must be 1-10")
        kept = np.flatnonzero([STL10_TO_CIFAR10[y] is not None for y in stl_labels])
        class_names = canonical_order(c for c in STL10_TO_CIFAR10 if c)
        labels = np.array([class_names.index(STL10_TO_CIFAR10[y]) for y in stl_labels[kept]])
        return Arrays((len(kept), image_size, image_size, 3), labels, class_names,
                      [x_path, y_path], reader=partial(stl10_rows, x_path, image_size), rows=kept)

    def _cifar10c(self, image_size):
        x_path = os.path.join(self.uri.path, f"{self.uri.corruption}.npy")
        y_path = os.path.join(self.uri.path, "labels.npy")
        _require_file(x_path, "CIFAR-10-C corruption file")
        _require_file(y_path, "CIFAR-10-C labels")
        images, labels = np.load(x_path, mmap_mode="r"), np.load(y_path, mmap_mode="r")
        per_severity = len(labels) // 5
        if len(labels) % 5 or len(images) != len(labels):
            raise DataError(f"{x_path}: {len(images)} images and {len(labels)} labels are not "
                            "five equal severity blocks")
        start = (self.uri.severity - 1) * per_severity
        return Arrays((per_severity, *images.shape[1:]), np.asarray(labels[start:start + per_severity]),
                      CIFAR10_CLASSES, [x_path, y_path], reader=partial(npy_rows, x_path),
                      rows=start + np.arange(per_severity))


def read_rows(batch: pa.Table, reader) -> pa.Table:
    """A Ray Data task's rows read from their file: the `row` column becomes the image."""
    images = reader(batch.column("row").to_numpy())
    return batch.drop_columns(["row"]).append_column("image", images_to_column(images))


class ParquetSource(Source):
    """The output of `raydapt prepare`: manifest.json plus data/*.parquet."""

    def __init__(self, uri: DatasetURI):
        self.uri = uri
        self.fs, self.root = filesystem_for(uri.path)
        if self.fs.get_file_info(self.root).type == pafs.FileType.NotFound:
            raise NoInputError(f"Parquet dataset not found: {uri.path}")
        self.manifest = read_manifest(self.fs, self.root,
                                      ("class_names", "content_checksum", "image_shape"))
        if self.manifest is None:
            raise NoInputError(f"{uri.path} has no {MANIFEST}: not written by `raydapt prepare`")
        self.files = list_parquet_files(self.fs, self.root)
        if not self.files:
            raise NoInputError(f"{uri.path}/{DATA_DIR} holds no Parquet files")
        for path in self.files:
            try:
                schema = pq.read_schema(path, filesystem=self.fs)
            except (pa.ArrowInvalid, OSError) as e:
                raise DataError(f"not a Parquet file: {path} ({e})") from None
            missing = [f.name for f in SCHEMA if f.name not in schema.names]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        self.class_names = tuple(self.manifest["class_names"])
        index = pq.ParquetDataset(self.files, filesystem=self.fs).read(
            columns=["example_id", "label"]).sort_by("example_id")
        self.example_ids = tuple(index.column("example_id").to_pylist())
        self.labels = index.column("label").to_numpy().astype(np.int64)
        bad = np.flatnonzero((self.labels < 0) | (self.labels >= len(self.class_names)))
        if len(bad):
            raise DataError(f"{uri}: label out of range 0-{len(self.class_names) - 1} for "
                            f"{name_some([self.example_ids[i] for i in bad])}")

    def fingerprint(self) -> str:
        return self.manifest["content_checksum"]

    def image_shape(self, indices: np.ndarray) -> tuple[int, int, int]:
        return tuple(self.manifest["image_shape"])

    def read(self, indices: np.ndarray):
        import ray

        ds = ray.data.read_parquet(self.files, filesystem=self.fs, schema=SCHEMA)
        if len(indices) < len(self.example_ids):
            wanted = pa.array([self.example_ids[i] for i in indices], pa.string())
            ds = ds.map_batches(_keep_ids, fn_kwargs={"wanted": wanted}, batch_format="pyarrow")
        return ds, tuple(self.manifest["image_shape"])


def _keep_ids(batch: pa.Table, wanted: pa.Array) -> pa.Table:
    return batch.filter(pc.is_in(batch.column("example_id"), value_set=wanted))


def open_source(uri: DatasetURI, image_size: int):
    if uri.scheme == "folder":
        return FolderSource(uri)
    if uri.scheme == "parquet":
        return ParquetSource(uri)
    return ArraySource(uri, image_size)
