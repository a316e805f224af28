"""The row layout every dataset shares, in memory and in Parquet.

Images are raw uint8 HWC bytes, not re-encoded JPEG/PNG: pixels stay exactly those
decoded once by `prepare`, training pays no decode per epoch, and a CIFAR-size image is
only 3 KB (Parquet compresses the column). The shape lives in the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([
    ("example_id", pa.string()),   # stable across runs: relative path or split/index
    ("label", pa.int16()),         # index into the dataset's class_names
    ("class_name", pa.string()),
    ("image", pa.binary()),        # uint8 HWC, shape in the manifest
])


def tensor_to_column(values: np.ndarray) -> pa.Array:
    """(N, ...) array -> binary column, one value per row, without a Python loop."""
    values = np.ascontiguousarray(values)
    n, size = len(values), values[0].nbytes if len(values) else 0
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(size), n, [None, pa.py_buffer(values.tobytes())])
    return fixed.cast(pa.binary())


def column_to_tensor(column, shape, dtype) -> np.ndarray:
    """Binary column (Array or ChunkedArray) -> (N, *shape) array of dtype."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    fixed = column.cast(pa.binary(size))  # fails loudly if any value has the wrong length
    data = np.frombuffer(fixed.buffers()[1], dtype=np.uint8,
                         count=len(fixed) * size, offset=fixed.offset * size)
    return data.view(dtype).reshape((len(fixed), *shape))


def images_to_column(images: np.ndarray) -> pa.Array:
    return tensor_to_column(np.asarray(images, dtype=np.uint8))


def column_to_images(column, shape) -> np.ndarray:
    return column_to_tensor(column, shape, np.uint8)


@dataclass(frozen=True)
class Candidates:
    """What a source offers, in stable order, before any pixel is read."""

    example_ids: Sequence[str]  # a tuple, or Names for a large listing
    labels: np.ndarray
    class_names: tuple[str, ...]


class Source:
    """What every source is once opened: its rows listed (`example_ids`, `labels` and
    `class_names`, in stable order) and, unless it overrides preflight(), checked."""

    def candidates(self) -> Candidates:
        return Candidates(self.example_ids, self.labels, self.class_names)

    def preflight(self, indices: np.ndarray) -> None:
        """Nothing left to check: the input was checked when opened."""


def make_table(example_ids, labels, class_names, images: np.ndarray) -> pa.Table:
    return listing(example_ids, labels, class_names).append_column(SCHEMA.field("image"),
                                                                     images_to_column(images))


def listing(example_ids, labels, class_names) -> pa.Table:
    """The rows' columns before their pixels (SCHEMA without `image`), from their ids
    (strings, or an Arrow array), labels and the class names."""
    labels = np.asarray(labels, dtype=np.int16)
    if not isinstance(example_ids, pa.Array):
        example_ids = pa.array(list(example_ids), pa.string())
    names = pa.DictionaryArray.from_arrays(pa.array(labels), pa.array(class_names, pa.string()))
    return pa.Table.from_arrays([example_ids, pa.array(labels, pa.int16()), names.cast(pa.string())],
                                schema=pa.schema(list(SCHEMA)[:3]))


class Names(Sequence):
    """Strings held in one Arrow array, read as a sequence of str (a slice as a tuple): a
    listing of a few hundred thousand files costs its bytes in the driver, not a Python
    object per name."""

    def __init__(self, array: pa.Array):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self.array[index].to_pylist())
        return self.array[index].as_py()

    def __iter__(self):
        for start in range(0, len(self.array), 65536):  # a chunk of Python strings at a time
            yield from self.array[start:start + 65536].to_pylist()

    def take(self, indices: np.ndarray) -> pa.Array:
        return self.array.take(pa.array(indices, pa.int64()))
