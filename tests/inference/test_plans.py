"""What evaluate and predict read, checked against the model: the classes before Ray
starts, the shape once Ray Data tasks have decoded the images."""

import pytest
from PIL import Image

from lib.config import ScoredData
from lib.data.classes import CIFAR10_CLASSES
from lib.errors import DataError
from lib.inference.plans import check_shape, data_plan

MODEL = {"image_size": 32, "image_shape": [32, 32, 3], "class_names": list(CIFAR10_CLASSES)}


def test_images_of_another_shape_than_the_models_fail_once_decoded(small_folder, ray_local):
    plan = data_plan(ScoredData(data=f"folder:{small_folder}"), MODEL, same_classes=True)
    check_shape(plan, MODEL)  # the model's own shape passes
    for path in small_folder.rglob("*.jpg"):
        Image.open(path).resize((40, 24)).save(path)
    plan = data_plan(ScoredData(data=f"folder:{small_folder}"), MODEL, same_classes=True)
    with pytest.raises(DataError, match=r"images are 24x40x3, the model takes 32x32x3"):
        check_shape(plan, MODEL)


def test_other_classes_fail_before_any_image_is_read(small_folder):
    (small_folder / "cat").rename(small_folder / "lynx")
    with pytest.raises(DataError, match="the model's are airplane"):
        data_plan(ScoredData(data=f"folder:{small_folder}"), MODEL, same_classes=True)
