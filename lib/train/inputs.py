"""What training workers read: a Dataset of preprocessed images, or, on the frozen-base
fast path, of cached backbone features. Either way the rows carry `x` (and `label` only
when the caller allows labels: unlabelled data loses them here)."""

from __future__ import annotations

from dataclasses import dataclass

from lib.data.feed import model_ready


@dataclass(frozen=True)
class FeatureCache:
    """Where and how backbone features are cached (lib/train/features.py)."""
    weights: str
    image_size: int
    feature_layer: str
    precision: str
    storage: str
    actors: int


def worker_dataset(images, *, with_labels: bool, cache: FeatureCache | None):
    """(Dataset for the workers, image shape, feature shape or None) from an ImagePlan."""
    ds, shape = images.load()  # lazy: nothing is decoded or corrupted unless used
    if cache is None:
        # Preprocessed once and kept in the object store: epochs only stream it, so the feed
        # takes no CPU from training (on a 2-core machine that was 14% of step time).
        return model_ready(ds, shape, with_labels=with_labels).materialize(), shape, None
    from lib.train.features import cached_features, to_feature_batch

    features, feature_shape = cached_features(ds, shape, images.identity(), cache)
    # Materialized: feature rows are small, and every later use (the workers' split, samples,
    # evaluation) then reads object-store blocks instead of re-running the pipeline.
    return features.map_batches(to_feature_batch, batch_format="pyarrow",
                                fn_kwargs={"shape": feature_shape, "with_labels": with_labels}
                                ).materialize(), shape, feature_shape
