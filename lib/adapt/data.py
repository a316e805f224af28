"""The adapt job's inputs: which images, and what its workers read of them.

Workers get: `source` (labelled) and `target` (unlabelled unless the method reads target
labels), both split across workers; `source_sample`/`target_sample`, random training
rows rank 0 scores each epoch (selection criteria, proxy A-distance); and the
evaluation splits `source_val` and `target_test`, whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from lib.data.classes import check_same_classes, parse_class_list
from lib.data.images import ImagePlan, plan_images
from lib.data.shifts import parse_shift
from lib.data.uri import DatasetURI, parse_uri
from lib.train.inputs import FeatureCache, load_for_workers


@dataclass(frozen=True)
class AdaptInputs:
    source: ImagePlan
    target: ImagePlan
    source_val: ImagePlan | None
    target_test: ImagePlan | None

    def evaluated(self) -> dict[str, ImagePlan]:
        return {name: plan for name, plan in (("source_val", self.source_val),
                                              ("target_test", self.target_test))
                if plan is not None}

    def by_name(self) -> dict[str, ImagePlan]:
        """Each plan under the name of the dataset the workers get from it."""
        return {"source": self.source, "target": self.target, **self.evaluated()}


def _canonical(uri: DatasetURI) -> DatasetURI:
    if uri.path and "://" not in uri.path:
        return replace(uri, path=os.path.realpath(uri.path))
    return uri


def plan_inputs(config) -> AdaptInputs:
    """Everything that needs no pixels: fails fast on bad URIs, shifts and class lists."""
    sel = config.data
    options = {"classes": parse_class_list(sel.classes), "seed": config.shift_seed,
               "image_size": sel.image_size}
    shift = parse_shift(config.target_shift) if config.target_shift else None
    source_uri, target_uri = parse_uri(config.source), parse_uri(config.target)
    # One dataset as both domains: disjoint halves (alternate images of each class), so
    # no image is seen labelled as source and unlabelled as target.
    same = _canonical(source_uri) == _canonical(target_uri)
    source = plan_images(source_uri, None, limit_per_class=sel.limit_per_class,
                         part=(0, 2) if same else None, **options)
    target = plan_images(target_uri, shift, limit_per_class=sel.limit_per_class,
                         part=(1, 2) if same else None, **options)
    evaluated = {}
    for name, text, split_shift in (("source_val", config.source_val, None),
                                    ("target_test", config.target_test, shift)):
        evaluated[name] = plan_images(parse_uri(text), split_shift,
                                      limit_per_class=config.eval_limit_per_class,
                                      **options) if text else None
    inputs = AdaptInputs(source, target, **evaluated)
    for plan in list(inputs.by_name().values())[1:]:
        check_same_classes(source.class_names, plan.class_names)
    return inputs


# The training rows rank 0 scores each epoch: sample -> (domain drawn from, seed offset).
SAMPLES = {"source_sample": ("source", 0), "target_sample": ("target", 1)}


def worker_inputs(config, inputs: AdaptInputs, reads_target_labels: bool,
                    cache: FeatureCache | None):
    """(what the workers read by name, image shape, feature shape or None): Ray Datasets
    of images, the samples included; or with a cache the features' files
    (lib/train/features.FeatureFiles), from which rank 0 draws the samples itself
    (lib/train/worker.WorkerData.sample)."""
    loaded, shape, feature_shape = load_for_workers(
        inputs.by_name(), unlabelled=frozenset() if reads_target_labels else frozenset({"target"}),
        cache=cache, shuffle_seed=config.data.seed)
    if feature_shape is not None:
        return loaded, shape, feature_shape
    size, seed = config.adapt.selection_samples, config.data.seed
    return loaded | {name: loaded[domain].random_shuffle(seed=seed + offset).limit(size)
                     .materialize() for name, (domain, offset) in SAMPLES.items()}, \
        shape, feature_shape
