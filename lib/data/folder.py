"""A class-per-subfolder tree of PNG/JPEG files as a source of image rows.

The driver only lists: paths, labels, sizes. Decoding and the checks (undecodable,
wrong mode, wrong size, empty files) run in Ray Data tasks spread over the cluster's
CPUs and nodes, so the driver's memory and time do not grow with the pixels; what the
tasks find is gathered as a few counts per block, and a bad file fails the run before
any training worker starts. Every node must see the folder (a shared filesystem); a
file a node cannot find is reported as such.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter

import numpy as np
import pyarrow as pa

from lib.data.blocks import in_parts
from lib.data.classes import canonical_order
from lib.data.columns import SCHEMA, Names, Source, listing
from lib.data.uri import DatasetURI
from lib.errors import DataError, NoInputError, name_some

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SHOWN = 3  # bad files named in the error; the rest are counted
DECODED = re.compile(r"\d+x\d+( |$)")  # a description of a file that decoded, not a failure


class FolderSource(Source):
    """Every image must decode to RGB, all of one size (the size most of them have)."""

    def __init__(self, uri: DatasetURI):
        self.uri = uri
        self.root = root = os.path.abspath(uri.path)
        if not os.path.isdir(root):
            raise NoInputError(f"dataset folder not found: {uri.path}")
        class_dirs = sorted(d for d in os.listdir(root)
                            if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
        if not class_dirs:
            raise NoInputError(f"{uri.path} has no class subfolders (expected {uri.path}/<class>/*.jpg)")
        self.class_names = canonical_order(class_dirs)
        # One class's Python strings at a time, into Arrow arrays from the system allocator:
        # Arrow's default (mimalloc) kept what the growing and joined arrays freed, 6 MB of a
        # 200,000-file listing (2026-12-07).
        pool = pa.system_memory_pool()
        ids, counts = [], []
        for c in self.class_names:
            names = sorted(f for f in os.listdir(os.path.join(root, c))
                           if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
            ids.append(pa.array([f"{c}/{f}" for f in names], pa.string(), memory_pool=pool))
            counts.append(len(names))
        empty = [c for c, n in zip(self.class_names, counts) if not n]
        if empty:
            raise NoInputError(f"empty class folder in {uri.path}: {name_some(empty)} (no PNG/JPEG files)")
        self._checked = None  # (selection, decoded Dataset, shape) once preflight() has run
        self.example_ids = Names(pa.concat_arrays(ids, memory_pool=pool))
        self.labels = np.repeat(np.arange(len(counts), dtype=np.int16), counts)

    def fingerprint(self) -> str:
        """The files' names, sizes and times, hashed as they are listed: no list of them
        held at once (a driver's memory is what a large folder runs out of)."""
        h = hashlib.sha256(repr(("folder", self.root)).encode())
        for p in self.example_ids:
            st = os.stat(os.path.join(self.root, p))
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]

    def preflight(self, indices: np.ndarray) -> None:
        """Decode and check the chosen files in Ray Data tasks (Ray must be up), naming the
        first bad ones and counting all. The decoded rows stay in Ray's object store for
        read(): decoding is the expensive part."""
        selection = hashlib.sha256(np.ascontiguousarray(indices).tobytes()).hexdigest()
        if self._checked is not None and self._checked[0] == selection:
            return
        # What a task cannot derive (class names come from the labels there).
        def part(start: int, stop: int) -> pa.Table:
            chosen = indices[start:stop]
            return pa.table({"example_id": self.example_ids.take(chosen),
                             "label": pa.array(self.labels[chosen], pa.int16()),
                             "position": pa.array(np.arange(start, stop), pa.int32())})

        decoded = (in_parts(len(indices), part)
                   .map_batches(decode_batch, batch_size=None, batch_format="pyarrow",
                                fn_kwargs={"root": self.root, "class_names": self.class_names})
                   .materialize())
        tallies = decoded.map_batches(tally, batch_size=None, batch_format="pyarrow").take_all()
        shape = check_tallies(tallies, self.uri)
        self._checked = (selection, decoded.select_columns(SCHEMA.names), shape)

    def image_shape(self, indices: np.ndarray) -> tuple[int, int, int]:
        """The rows' (height, width, channels): decoded and checked first (Ray must be up)."""
        return self.read(indices)[1]

    def read(self, indices: np.ndarray):
        self.preflight(indices)
        return self._checked[1:]


def decode_file(path: str) -> tuple[np.ndarray | None, str]:
    """(pixels, description): 'WxH MODE' when it decodes, else what is wrong with it."""
    from PIL import Image

    try:
        if os.path.getsize(path) == 0:
            return None, "empty file"
        with Image.open(path) as im:
            im.load()
            return np.asarray(im), f"{im.width}x{im.height} {im.mode}"
    except FileNotFoundError:
        import socket

        return None, (f"not found on node {socket.gethostname()} (every node must see a "
                      "folder source: a shared filesystem, or `raydapt prepare` it to one)")
    except Exception as e:  # any decoder failure is a data error, reported by file below
        return None, f"undecodable ({type(e).__name__}: {e})"


def decode_batch(batch: pa.Table, root: str, class_names) -> pa.Table:
    """A Ray Data task's files (example_id, label, position) decoded: the rows of
    `columns.SCHEMA` (an empty image where a file did not decode), with each file's
    description and position for the check."""
    ids = batch.column("example_id")
    decoded = [decode_file(os.path.join(root, i)) for i in ids.to_pylist()]
    images = pa.array([b"" if pixels is None else np.ascontiguousarray(pixels).tobytes()
                       for pixels, _ in decoded], pa.binary())
    return (listing(ids.combine_chunks(), batch.column("label").to_numpy(), class_names)
            .append_column("image", images)
            .append_column("described", pa.array([d for _, d in decoded], pa.string()))
            .append_column("position", batch.column("position")))


def tally(block: pa.Table) -> pa.Table:
    """A block's descriptions, one row each: how many files have it, and the first few
    (position, example id): all the driver needs to find the odd ones out."""
    counts, first = Counter(), {}
    columns = (block.column(c).to_pylist() for c in ("described", "position", "example_id"))
    for description, position, example_id in zip(*columns):
        counts[description] += 1
        seen = first.setdefault(description, [])
        if len(seen) < SHOWN:
            seen.append((position, example_id))
    keys = list(counts)
    return pa.table({
        "described": pa.array(keys, pa.string()),
        "count": pa.array([counts[k] for k in keys], pa.int64()),
        "positions": pa.array([[p for p, _ in first[k]] for k in keys], pa.list_(pa.int64())),
        "example_ids": pa.array([[i for _, i in first[k]] for k in keys],
                                pa.list_(pa.string())),
    })


def check_tallies(tallies: list[dict], uri: DatasetURI) -> tuple[int, int, int]:
    """Every image decodes, is RGB, and has the size most of them have; else DataError
    naming the first bad files in listing order and counting them all."""
    counts, found = Counter(), []  # found: (position, example id, description)
    for row in tallies:
        counts[row["described"]] += row["count"]
        found += [(p, i, row["described"]) for p, i in zip(row["positions"], row["example_ids"])]
    shapes = Counter({d: n for d, n in counts.items() if d.endswith(" RGB")})
    if not shapes:
        _, example_id, description = min(found)
        raise DataError(f"{uri}: no RGB image decodes, e.g. {example_id}: {description}")
    expected = shapes.most_common(1)[0][0]
    bad = sorted(f for f in found if f[2] != expected)
    if bad:
        total = sum(n for d, n in counts.items() if d != expected)
        named = [f"{i}: {d}" + (f", expected {expected}" if DECODED.match(d) else "")
                 for _, i, d in bad[:SHOWN]]
        more = f" (+{total - len(named)} more)" if total > len(named) else ""
        raise DataError(f"{uri}: {total} bad image(s): {', '.join(named)}{more}")
    width, height = (int(v) for v in expected.split()[0].split("x"))
    return height, width, 3
