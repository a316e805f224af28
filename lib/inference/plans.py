"""Which images evaluate and predict read, from their --data options, checked against
the model before anything is written."""

from __future__ import annotations

from lib.data.classes import parse_class_list
from lib.data.images import ImagePlan, plan_images
from lib.data.shifts import parse_shift
from lib.data.uri import parse_uri
from lib.errors import DataError, NoInputError


def data_plan(data, metadata: dict, *, same_classes: bool) -> ImagePlan:
    """`data`: a config.ScoredData; `metadata` the model's. The images must be of the
    model's shape (sources resize to its image size); with `same_classes` their class list
    must be the model's too: checked here, before Ray starts; their shape needs the pixels
    (check_shape)."""
    shift = parse_shift(data.target_shift) if data.target_shift else None
    plan = plan_images(parse_uri(data.data), shift, limit_per_class=data.limit_per_class,
                       classes=parse_class_list(data.classes), seed=data.shift_seed,
                       image_size=metadata["image_size"])
    if not plan.num_rows:
        raise NoInputError(f"--data {data.data}: no images selected")
    if same_classes and tuple(metadata["class_names"]) != tuple(plan.class_names):
        raise DataError(f"--data {data.data} has classes {', '.join(plan.class_names)}; the "
                        f"model's are {', '.join(metadata['class_names'])}"
                        + ("" if data.classes else " (pick them with --classes)"))
    return plan


def check_shape(plan: ImagePlan, metadata: dict) -> None:
    """The images are of the model's shape (a folder is decoded and checked for it in Ray
    Data tasks: Ray must be up)."""
    shape = plan.image_shape()
    if list(shape) != list(metadata["image_shape"]):
        raise DataError(f"--data {plan.uri}: images are {'x'.join(map(str, shape))}, the "
                        f"model takes {'x'.join(map(str, metadata['image_shape']))}")


def described(data) -> str:
    """The data as the tables name a dataset: its URI, the shift in brackets."""
    return data.data + (f" [{data.target_shift}]" if data.target_shift else "")
