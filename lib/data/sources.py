"""Readers for each dataset URI scheme, all yielding rows of `columns.SCHEMA`.

A source is opened in two steps so that bad input fails before any work is spread
out: `candidates()` lists ids and labels in a stable order (cheap, on the driver), and
`read(indices)` builds the Ray Dataset of the chosen rows. Missing or empty inputs
raise NoInputError (exit 66); present but wrong ones raise DataError (exit 65).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lib.data.classes import CIFAR10_CLASSES, STL10_TO_CIFAR10, canonical_order
from lib.data.columns import SCHEMA, make_table
from lib.data.layout import DATA_DIR, MANIFEST, filesystem_for, list_parquet_files, read_manifest
from lib.data.uri import DatasetURI
from lib.errors import DataError, NoInputError, name_some

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ROWS_PER_BLOCK = 2000  # a few MB of 32x32 images: enough blocks to spread, few enough to be cheap


@dataclass(frozen=True)
class Candidates:
    """What a source offers, in stable order, before any pixel is read."""

    example_ids: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]


def _hash(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]


def _num_blocks(n: int) -> int:
    return max(1, -(-n // ROWS_PER_BLOCK))


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise NoInputError(f"{what} not found: {path}")


class FolderSource:
    """A class-per-subfolder tree of PNG/JPEG files; every image must be RGB of one size."""

    def __init__(self, uri: DatasetURI):
        self.uri = uri
        root = os.path.abspath(uri.path)
        if not os.path.isdir(root):
            raise NoInputError(f"dataset folder not found: {uri.path}")
        class_dirs = sorted(d for d in os.listdir(root)
                            if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
        if not class_dirs:
            raise NoInputError(f"{uri.path} has no class subfolders (expected {uri.path}/<class>/*.jpg)")
        files = {c: sorted(f for f in os.listdir(os.path.join(root, c))
                           if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
                 for c in class_dirs}
        empty = [c for c, names in files.items() if not names]
        if empty:
            raise NoInputError(f"empty class folder in {uri.path}: {name_some(empty)} (no PNG/JPEG files)")
        self.root = root
        self._decoded = None  # (indices, table, shape) once preflight() has run
        self.class_names = canonical_order(class_dirs)
        self.example_ids = tuple(f"{c}/{f}" for c in self.class_names for f in files[c])
        self.labels = np.array([i for i, c in enumerate(self.class_names) for _ in files[c]])

    def candidates(self) -> Candidates:
        return Candidates(self.example_ids, self.labels, self.class_names)

    def fingerprint(self) -> str:
        stats = [(p, st.st_size, st.st_mtime_ns) for p in self.example_ids
                 for st in [os.stat(os.path.join(self.root, p))]]
        return _hash("folder", self.root, stats)

    def preflight(self, indices: np.ndarray) -> None:
        """Decode the chosen files here on the driver, naming every bad one, before any
        worker starts. The pixels are kept for read(): decoding is the expensive part, and
        a folder lives on one filesystem anyway (Parquet sources are read by Ray tasks)."""
        from concurrent.futures import ThreadPoolExecutor

        key = indices.tobytes()
        if self._decoded is not None and self._decoded[0] == key:
            return
        ids = [self.example_ids[i] for i in indices]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL frees the GIL
            decoded = list(pool.map(_decode_file, [os.path.join(self.root, p) for p in ids]))
        shape = _check_decoded(ids, decoded, self.uri)
        table = make_table(ids, self.labels[indices], self.class_names,
                           np.stack([pixels for pixels, _ in decoded]))
        self._decoded = (key, table, shape)

    def image_shape(self, indices: np.ndarray) -> tuple[int, int, int]:
        """The rows' (height, width, channels): decoded and checked first."""
        self.preflight(indices)
        return self._decoded[2]

    def read(self, indices: np.ndarray):
        import ray

        self.preflight(indices)
        _, table, shape = self._decoded
        return ray.data.from_arrow(table).repartition(_num_blocks(len(indices))), shape


def _decode_file(path: str) -> tuple[np.ndarray | None, str]:
    """(pixels, description): 'WxH MODE' when it decodes, else the decoder's complaint."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            pixels = np.asarray(im)
            return pixels, f"{im.width}x{im.height} {im.mode}"
    except Exception as e:  # any decoder failure is a data error, reported by file below
        return None, f"undecodable ({type(e).__name__}: {e})"


def _check_decoded(ids, decoded, uri: DatasetURI) -> tuple[int, int, int]:
    """Every image decodes, is RGB, and has the size most of them have."""
    shapes = [desc for pixels, desc in decoded if pixels is not None and desc.endswith(" RGB")]
    if not shapes:
        raise DataError(f"{uri}: no RGB image decodes, e.g. {ids[0]}: {decoded[0][1]}")
    expected = Counter(shapes).most_common(1)[0][0]
    bad = [f"{i}: {desc}" + ("" if pixels is None else f", expected {expected}")
           for i, (pixels, desc) in zip(ids, decoded) if desc != expected]
    if bad:
        raise DataError(f"{uri}: {len(bad)} bad image(s): {name_some(bad, 3)}")
    width, height = (int(v) for v in expected.split()[0].split("x"))
    return height, width, 3


class ArraySource:
    """Sources shipped as whole arrays: Keras CIFAR-10, STL-10 binaries, CIFAR-10-C .npy."""

    def __init__(self, uri: DatasetURI, image_size: int):
        self.uri = uri
        loader = {"cifar10": self._keras_cifar10, "stl10": self._stl10,
                  "cifar10c": self._cifar10c}[uri.scheme]
        self.images, labels, self.class_names, self.files = loader(image_size)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or len(self.images) != len(labels):
            raise DataError(f"{uri}: images have shape {self.images.shape} for {len(labels)} "
                            "labels; expected (N, H, W, 3)")
        self.labels = np.asarray(labels).reshape(-1).astype(np.int64)
        out_of_range = np.flatnonzero((self.labels < 0) | (self.labels >= len(self.class_names)))
        if len(out_of_range):
            raise DataError(f"{uri}: label out of range 0-{len(self.class_names) - 1} at rows "
                            f"{name_some(out_of_range.tolist())}")
        tag = (f"{uri.corruption}@{uri.severity}" if uri.scheme == "cifar10c"
               else uri.split or "train")
        self.example_ids = tuple(f"{tag}/{i:06d}" for i in range(len(self.labels)))

    def candidates(self) -> Candidates:
        return Candidates(self.example_ids, self.labels, self.class_names)

    def preflight(self, indices: np.ndarray) -> None:
        """Nothing left to check: the arrays were checked when opened."""

    def fingerprint(self) -> str:
        stats = [(f, os.path.getsize(f), os.stat(f).st_mtime_ns) for f in self.files]
        return _hash(str(self.uri), stats)

    def image_shape(self, indices: np.ndarray) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def read(self, indices: np.ndarray):
        import ray

        table = make_table([self.example_ids[i] for i in indices], self.labels[indices],
                           self.class_names, self.images[indices])
        ds = ray.data.from_arrow(table).repartition(_num_blocks(len(indices)))
        return ds, tuple(self.images.shape[1:])

    def _keras_cifar10(self, image_size):
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        except Exception as e:  # Keras raises a bare Exception for a failed download
            raise NoInputError(
                f"{self.uri}: Keras could not load CIFAR-10 ({' '.join(str(e).split())[:200]}); "
                f"without internet, pre-stage it under KERAS_HOME or use folder: or "
                f"parquet:") from None
        if self.uri.split == "test":
            return x_test, y_test, CIFAR10_CLASSES, []
        return x_train, y_train, CIFAR10_CLASSES, []

    def _stl10(self, image_size):
        from PIL import Image

        base = self.uri.path
        if os.path.isdir(os.path.join(base, "stl10_binary")):
            base = os.path.join(base, "stl10_binary")
        x_path = os.path.join(base, f"{self.uri.split}_X.bin")
        y_path = os.path.join(base, f"{self.uri.split}_y.bin")
        _require_file(x_path, "STL-10 images")
        _require_file(y_path, "STL-10 labels")
        raw = np.fromfile(x_path, dtype=np.uint8)
        stl_labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1
        if raw.size != len(stl_labels) * 3 * 96 * 96:
            raise DataError(f"{x_path}: {raw.size} bytes do not hold {len(stl_labels)} 96x96 RGB images")
        if len(stl_labels) and (stl_labels.min() < 0 or stl_labels.max() > 9):
            raise DataError(f"{y_path}: labels must be 1-10")
        # The release stores each image column-major, channel by channel.
        images = raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
        keep = np.array([STL10_TO_CIFAR10[y] is not None for y in stl_labels], dtype=bool)
        class_names = canonical_order(c for c in STL10_TO_CIFAR10 if c)
        labels = np.array([class_names.index(STL10_TO_CIFAR10[y]) for y in stl_labels[keep]])
        if image_size != 96:
            images = np.stack([np.asarray(Image.fromarray(im).resize(
                (image_size, image_size), Image.BICUBIC)) for im in images[keep]])
        else:
            images = images[keep]
        return images, labels, class_names, [x_path, y_path]

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
        block = slice((self.uri.severity - 1) * per_severity, self.uri.severity * per_severity)
        return images[block], labels[block], CIFAR10_CLASSES, [x_path, y_path]


class ParquetSource:
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

    def candidates(self) -> Candidates:
        return Candidates(self.example_ids, self.labels, self.class_names)

    def preflight(self, indices: np.ndarray) -> None:
        """Nothing left to check: files, schemas and labels were checked when opened."""

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
    import pyarrow.compute as pc

    return batch.filter(pc.is_in(batch.column("example_id"), value_set=wanted))


def open_source(uri: DatasetURI, image_size: int):
    if uri.scheme == "folder":
        return FolderSource(uri)
    if uri.scheme == "parquet":
        return ParquetSource(uri)
    return ArraySource(uri, image_size)
