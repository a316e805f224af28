import pytest

from lib.data.classes import CIFAR10_CLASSES, canonical_order, check_same_classes
from lib.errors import DataError


def test_cifar_order_wins_when_names_match():
    assert canonical_order(sorted(CIFAR10_CLASSES)) == CIFAR10_CLASSES
    assert canonical_order(["truck", "cat"]) == ("cat", "truck")
    assert canonical_order(["b", "a", "cat"]) == ("a", "b", "cat")


def test_class_lists_must_agree():
    check_same_classes(("a", "b"), ("a", "b"))
    with pytest.raises(DataError, match="only in source: frog.*only in target: monkey"):
        check_same_classes(("cat", "frog"), ("cat", "monkey"))
    with pytest.raises(DataError, match="different order"):
        check_same_classes(("a", "b"), ("b", "a"))
