"""What training workers read: a Ray Dataset of preprocessed images, or the files of the
frozen blocks' cached outputs (the whole backbone on the frozen-base fast path), which
each worker reads its part of itself. Either way the rows carry `x` (and `label` only
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
    actors: int  # the most: fewer for small data (lib/train/features.py)


def plan_feature_cache(backbone, image_size: int, precision: str, storage: str,
                       workers: int) -> FeatureCache | None:
    """The cache a run uses (`backbone`: a BackboneConfig): at the output of the blocks
    that do not train, None when every block trains or --no-feature-cache."""
    from lib.models import frozen_cut, parse_trainable

    cut = frozen_cut(backbone.feature_layer, parse_trainable(backbone.trainable))
    if cut is None or not backbone.feature_cache:
        return None
    return FeatureCache(backbone.weights, image_size, cut, precision, storage, workers)


def preflight(plans: dict, cache: FeatureCache | None) -> None:
    """Check the images a run will read, those of the plans ({name: ImagePlan}) whose
    features are not cached: folder images are decoded and checked in Ray Data tasks, so
    Ray must be up (jobs pass this to lib/train/session.driving as its check, before any
    training worker starts)."""
    from lib.train.features import cache_hits

    hits = cache_hits(plans, cache) if cache is not None else set()
    for name, plan in plans.items():
        if name not in hits:
            plan.preflight()


def load_for_workers(plans: dict, *, unlabelled: frozenset = frozenset(),
                     cache: FeatureCache | None, shuffle_seed: int):
    """({name: what the workers read}, image shape, feature shape or None) from
    {name: ImagePlan}; the names in `unlabelled` lose their labels. What the workers read
    is a Ray Dataset of preprocessed images, or with a cache the cached features' files
    (lib/train/features.FeatureFiles), which each worker reads its part of itself. The
    image shape is the first plan's."""
    if cache is not None:  # nothing loaded for a cache hit
        from lib.train.features import cached_features

        return cached_features(plans, cache, unlabelled)
    # Rows arrive class by class and a worker shuffles only within a 2,048-row buffer:
    # without one global shuffle an epoch of 50,000 images walks through the classes in
    # turn, and the model ends each epoch fitted to the last ones (seen: 38% test accuracy
    # where the cached path, which permutes whole shards, had 69%). Preprocessed once and
    # kept in the object store: epochs only stream it, so the feed takes no CPU from
    # training (on a 2-core machine that was 14% of step time).
    loaded = {name: plan.load() for name, plan in plans.items()}  # lazy: nothing decoded yet
    return ({name: model_ready(ds, image_shape, with_labels=name not in unlabelled)
             .random_shuffle(seed=shuffle_seed).materialize()
             for name, (ds, image_shape) in loaded.items()},
            next(iter(loaded.values()))[1], None)
