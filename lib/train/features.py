"""Frozen-base fast path: backbone features computed once per dataset, then reused.

With a frozen base, every epoch of the classic recipe recomputes the same VGG16 forward
pass. Here it runs once, in a Ray Data actor pool (each actor loads the backbone once),
and lands as Parquet under `<storage>/feature-cache/<key>`, where the key covers the
weights, image size, cut layer, precision and the rows' identity (ImagePlan.identity:
which files, selection, corruption, and the code that decodes them), so a cache is
reused whenever it is valid, never when anything it depends on changed, and a hit
decodes no image.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
import pyarrow as pa

from lib.data.columns import column_to_images, column_to_tensor, tensor_to_column
from lib.data.feed import caffe_preprocess
from lib.data.layout import commit_dataset, filesystem_for, list_parquet_files, read_manifest
from lib.models import feature_shape, weights_identity

BATCH = 256


def cache_key(weights: str, image_size: int, feature_layer: str, precision: str,
              data_key: str) -> str:
    parts = (weights_identity(weights), image_size, feature_layer, precision, data_key)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


class FeatureExtractor:
    """Ray Data actor: image rows in, feature rows out."""

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
                         "features": tensor_to_column(features)})


def cached_features(ds, native_shape, data_key: str, cache):
    """(Dataset of feature rows, feature shape): computed now, or read from a valid cache.
    `cache` is a lib.train.inputs.FeatureCache: the model, precision, storage and actors."""
    import ray

    key = cache_key(cache.weights, cache.image_size, cache.feature_layer, cache.precision,
                    data_key)
    fs, root = filesystem_for(cache.storage)
    directory = f"{root}/feature-cache/{key}"
    manifest = read_manifest(fs, directory)
    if manifest is None:
        staging = f"{root}/feature-cache/.staging-{uuid.uuid4().hex[:8]}"
        ds.map_batches(
            FeatureExtractor, batch_size=BATCH, batch_format="pyarrow", concurrency=cache.actors,
            fn_constructor_kwargs={"weights": cache.weights, "native_shape": tuple(native_shape),
                                   "image_size": cache.image_size,
                                   "feature_layer": cache.feature_layer,
                                   "precision": cache.precision},
        ).write_parquet(staging, filesystem=fs)
        manifest = {"key": key, "weights": cache.weights, "image_size": cache.image_size,
                    "feature_layer": cache.feature_layer, "precision": cache.precision,
                    "data_key": data_key,
                    "feature_shape": list(feature_shape(cache.image_size, cache.feature_layer))}
        fs.create_dir(directory, recursive=True)
        commit_dataset(fs, directory, staging, manifest)
    files = list_parquet_files(fs, directory)
    return ray.data.read_parquet(files, filesystem=fs), tuple(manifest["feature_shape"])


def to_feature_batch(batch: pa.Table, shape, with_labels: bool = True) -> dict[str, np.ndarray]:
    """Feature rows -> what the head's training step eats (the images' keys: x, label)."""
    out = {"x": column_to_tensor(batch.column("features"), shape, np.float32)}
    if with_labels:
        out["label"] = batch.column("label").to_numpy().astype(np.int32)
    return out
