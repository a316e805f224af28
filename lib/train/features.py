"""Frozen-base fast path: backbone features computed once per dataset, then reused.

With a frozen base, every epoch of the classic recipe recomputes the same VGG16 forward
pass. Here it runs once, in a Ray Data actor pool (each actor loads the backbone once),
and lands as Parquet under `<storage>/feature-cache/<key>`, where the key covers the
weights, image size, cut layer, precision and the rows' identity (ImagePlan.identity:
which files, selection, corruption, and the code that decodes them), so a cache is
reused whenever it is valid, never when anything it depends on changed, and a hit
decodes no image.

A run's datasets (source, target, their evaluation splits) that miss go through one pool
together: each pool's actors start by importing TensorFlow and loading the backbone, so
a pool per dataset made small runs mostly start-up.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from lib.console import say
from lib.data.columns import column_to_images, column_to_tensor, tensor_to_column
from lib.data.feed import InMemoryShard, caffe_preprocess
from lib.data.layout import commit_dataset, filesystem_for, list_parquet_files, read_manifest
from lib.errors import DataError
from lib.models import feature_shape, weights_identity

BATCH = 256
# Each actor pays TensorFlow's import (5 s here) and the backbone's load before its first
# image: a second actor only pays off on thousands of images, not on a smoke run's dozens.
ROWS_PER_ACTOR = 4096
KEY_COLUMN = "cache_key"  # tags each row with its dataset's cache entry during extraction
FEATURE_COLUMNS = ["example_id", "label", "features"]


def cache_key(weights: str, image_size: int, feature_layer: str, precision: str,
              data_key: str) -> str:
    parts = (weights_identity(weights), image_size, feature_layer, precision, data_key)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


class FeatureExtractor:
    """Ray Data actor: image rows in, feature rows (keeping their cache key) out."""

    def __init__(self, weights, native_shape, image_size, feature_layer, precision):
        import keras
        import tensorflow as tf

        from lib.models import feature_extractor

        if precision == "bf16":
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        self.shape = tuple(native_shape)
        model = feature_extractor(weights, native_shape, image_size, feature_layer)
        self.predict = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32))

    def __call__(self, batch: pa.Table) -> pa.Table:
        x = caffe_preprocess(column_to_images(batch.column("image"), self.shape))
        features = self.predict(x).numpy()
        return pa.table({"example_id": batch.column("example_id"), "label": batch.column("label"),
                         "features": tensor_to_column(features),
                         KEY_COLUMN: batch.column(KEY_COLUMN)})


class Images(NamedTuple):
    """One dataset to cache: its image rows, their native shape, what identifies them
    (ImagePlan.identity) and how many they are."""
    ds: Any  # a ray.data.Dataset
    shape: tuple
    data_key: str
    rows: int


def _tag(batch: pa.Table, key: str) -> pa.Table:
    return batch.append_column(KEY_COLUMN, pa.array([key] * len(batch), pa.string()))


@dataclass(frozen=True)
class FeatureFiles:
    """One cached feature set as the workers read it: straight from its cache entry's
    Parquet files, each worker its own part. Through Ray Data, each of a run's six
    feature sets paid 4-10 s of pipeline start-up here (read, convert, materialize,
    split): 32 s of a 90-second tiny run, for a few megabytes."""

    storage: str
    entry: str  # the entry's directory; its files are listed when read (a rebuild renames)
    shape: tuple[int, ...]
    with_labels: bool

    def _read(self, pick=None) -> InMemoryShard:
        """The rows `pick(n)` chooses (indices into the n rows in id order), or all.
        Only the chosen rows are converted: a worker holds its part, not the set."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        fs, _ = filesystem_for(self.storage)
        table = pq.read_table(list_parquet_files(fs, self.entry), filesystem=fs,
                              columns=FEATURE_COLUMNS)
        # In id order: extraction writes rows in no fixed order, and a shard must be the
        # same rows on every read (a restarted worker replays its epoch).
        in_order = pc.sort_indices(table, [("example_id", "ascending")]).to_numpy()
        table = table.take(in_order if pick is None else in_order[pick(len(in_order))])
        # What the head's training step eats (the images' keys: x, label).
        batch = {"x": column_to_tensor(table.column("features"), self.shape, np.float32)}
        if self.with_labels:
            batch["label"] = table.column("label").to_numpy().astype(np.int32)
        return InMemoryShard(batch)

    def shard(self, rank: int, workers: int, seed: int) -> InMemoryShard:
        """This worker's equal part (collectives need equal step counts), rows dealt by a
        seeded permutation: disjoint across workers, and mixed across classes although
        sources list them class by class."""
        def part(rows: int) -> np.ndarray:
            per_worker = rows // workers
            order = np.random.default_rng(seed).permutation(rows)
            return order[rank * per_worker:(rank + 1) * per_worker]

        return self._read(part)

    def sample(self, size: int, seed: int) -> InMemoryShard:
        """`size` random rows (all, if fewer), drawn apart from the shards' permutation."""
        return self._read(lambda rows: np.random.default_rng([seed, 1]).permutation(rows)[:size])

    def whole(self) -> InMemoryShard:
        return self._read()


def _entry(cache, data_key: str) -> str:
    fs, root = filesystem_for(cache.storage)
    return f"{root}/feature-cache/" + cache_key(cache.weights, cache.image_size,
                                                cache.feature_layer, cache.precision, data_key)


def cache_hits(plans: dict, cache) -> set[str]:
    """The names of the plans (ImagePlan) whose features are cached: they need no pixels
    this run, not even the preflight's decode (the key covers the files' sizes and
    mtimes, so they are the files that decoded when the entry was made)."""
    fs, _ = filesystem_for(cache.storage)
    return {name for name, plan in plans.items()
            if _valid_entry(fs, _entry(cache, plan.identity()), warn=False) is not None}


def cached_features(plans: dict, cache, unlabelled: frozenset
                    ) -> tuple[dict[str, FeatureFiles], tuple, tuple]:
    """({name: its cached features}, the first plan's image shape, feature shape) from
    {name: ImagePlan}: read from valid cache entries, the missing ones computed now in
    one pass; nothing is loaded for a hit. `cache` is a lib.train.inputs.FeatureCache:
    model, precision, storage and the most actors to use. The names in `unlabelled`
    reach the workers without labels."""
    fs, _ = filesystem_for(cache.storage)
    entries = {name: _entry(cache, plan.identity()) for name, plan in plans.items()}
    manifests = {name: _valid_entry(fs, entry) for name, entry in entries.items()}
    missing = {}
    with _extracting(fs, {entries[name] for name, m in manifests.items() if m is None}):
        for name, entry in entries.items():
            if manifests[name] is None:  # another run may have made it while this one waited
                manifests[name] = _valid_entry(fs, entry, warn=False)
            if manifests[name] is None and entry not in missing:
                ds, shape = plans[name].load()
                missing[entry] = Images(ds, shape, plans[name].identity(), plans[name].num_rows)
        if missing:
            rows = sum(images.rows for images in missing.values())
            say(f"  extracting {cache.feature_layer} features of {rows:,} images once (cached "
                f"under {cache.storage}/feature-cache for later runs)")
        for native_shape in {tuple(images.shape) for images in missing.values()}:
            _extract({entry: images for entry, images in missing.items()
                      if tuple(images.shape) == native_shape}, native_shape, cache, fs)
    first = next(iter(plans))
    image_shape = tuple(missing[entries[first]].shape if manifests[first] is None
                        else manifests[first]["image_shape"])
    shape = feature_shape(cache.image_size, cache.feature_layer)
    return ({name: FeatureFiles(cache.storage, entry, shape, name not in unlabelled)
             for name, entry in entries.items()}, image_shape, shape)


@contextlib.contextmanager
def _extracting(fs, entries: set[str]):
    """Hold the lock of each entry this run may extract, so that runs sharing an entry at
    the same time (a sweep's trials) extract it once: the others wait, then read it. A
    POSIX lock (lockf) on a file beside the entries works across processes and on NFS;
    a URI storage (s3://, gs://) gets none: concurrent runs there may both extract, and
    the second commit replaces the first. Taken in one order, so two runs each needing
    two entries cannot deadlock. A POSIX lock is a process's: it keeps other processes
    out, not other threads of the same one."""
    if not entries or not isinstance(fs, pafs.LocalFileSystem):
        yield
        return
    import fcntl

    with contextlib.ExitStack() as held:
        for entry in sorted(entries):
            cache_root, key = entry.rsplit("/", 1)
            os.makedirs(f"{cache_root}/.locks", exist_ok=True)
            lock = held.enter_context(open(f"{cache_root}/.locks/{key}.lock", "a+b"))
            try:
                fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EAGAIN):  # no locks on this mount
                    say(f"  warning: no lock for the feature cache ({e}); runs at the same "
                        f"time may each extract its entries")
                    continue
                say(f"  waiting for another run extracting the same features ({key})")
                fcntl.lockf(lock, fcntl.LOCK_EX)
        yield


def _valid_entry(fs, path: str, warn: bool = True) -> dict | None:
    """A committed entry's manifest, or None. A corrupt manifest (a crash of the disk, a
    hand edit) is only a cache miss: the entry is extracted again and replaced; so is one
    from before manifests recorded the images' shape."""
    try:
        manifest = read_manifest(fs, path)
    except DataError as e:
        if warn:
            say(f"  warning: rebuilding a feature-cache entry ({e})")
        return None
    return manifest if manifest is not None and "image_shape" in manifest else None


def _extract(missing: dict, native_shape: tuple, cache, fs) -> None:
    """Extract the features of every dataset in `missing` (cache entry path -> Images)
    through one actor pool, then commit each as its own cache entry."""
    import ray

    _, root = filesystem_for(cache.storage)
    staging = f"{root}/feature-cache/.staging-{uuid.uuid4().hex[:8]}"
    keys = {entry: entry.rsplit("/", 1)[-1] for entry in missing}
    tagged = [images.ds.map_batches(_tag, batch_format="pyarrow", fn_kwargs={"key": keys[entry]})
              for entry, images in missing.items()]
    together = tagged[0].union(*tagged[1:]) if len(tagged) > 1 else tagged[0]
    rows = sum(images.rows for images in missing.values())
    actors = max(1, min(cache.actors, -(-rows // ROWS_PER_ACTOR)))
    together.map_batches(
        FeatureExtractor, batch_size=BATCH, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_kwargs={"weights": cache.weights, "native_shape": native_shape,
                               "image_size": cache.image_size,
                               "feature_layer": cache.feature_layer,
                               "precision": cache.precision},
    ).write_parquet(staging, filesystem=fs, partition_cols=[KEY_COLUMN])
    for entry, images in missing.items():
        manifest = {"key": keys[entry], "weights": cache.weights,
                    "image_size": cache.image_size, "image_shape": list(native_shape),
                    "feature_layer": cache.feature_layer, "precision": cache.precision,
                    "data_key": images.data_key,
                    "feature_shape": list(feature_shape(cache.image_size, cache.feature_layer))}
        fs.create_dir(entry, recursive=True)
        commit_dataset(fs, entry, f"{staging}/{KEY_COLUMN}={keys[entry]}", manifest)
    fs.delete_dir(staging)
