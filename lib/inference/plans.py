"""Which images evaluate and predict read, from their --data options."""

from __future__ import annotations

from lib.data.classes import parse_class_list
from lib.data.images import ImagePlan, plan_images
from lib.data.shifts import parse_shift
from lib.data.uri import parse_uri


def data_plan(data, image_size: int) -> ImagePlan:
    """`data`: a config.ScoredData; `image_size` the model's (sources resize to it)."""
    shift = parse_shift(data.target_shift) if data.target_shift else None
    return plan_images(parse_uri(data.data), shift, limit_per_class=data.limit_per_class,
                       classes=parse_class_list(data.classes), seed=data.shift_seed,
                       image_size=image_size)
