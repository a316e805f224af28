"""Class lists: CIFAR-10's canonical order, STL-10's mapping onto it, and agreement checks."""

from __future__ import annotations

from lib.errors import DataError, UsageError, name_some

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# STL-10's label order (labels 1-10 in *_y.bin), renamed to CIFAR-10's words; STL-10 has
# no frog and CIFAR-10 no monkey, so monkey maps to None and is dropped.
STL10_TO_CIFAR10 = (
    "airplane", "bird", "automobile", "cat", "deer", "dog", "horse", None, "ship", "truck",
)


def canonical_order(names) -> tuple[str, ...]:
    """CIFAR-10's order when every name is a CIFAR-10 class, else alphabetical."""
    names = set(names)
    if names <= set(CIFAR10_CLASSES):
        return tuple(c for c in CIFAR10_CLASSES if c in names)
    return tuple(sorted(names))


def parse_class_list(text: str | None) -> tuple[str, ...] | None:
    """--classes: two or more distinct names (one class would make any model 100% right)."""
    if text is None:
        return None
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise UsageError(f"--classes {text!r} names {name_some(repeated)} more than once")
    if len(names) < 2:
        raise UsageError(f"--classes {text!r}: name at least two classes")
    return names


def check_known(requested, available, what: str) -> None:
    unknown = [c for c in requested if c not in available]
    if unknown:
        raise DataError(f"{what} has no class {name_some(unknown)}; it has: {', '.join(available)}")


def check_same_classes(source: tuple[str, ...], target: tuple[str, ...]) -> None:
    """Adaptation needs one label space: same class names in the same order."""
    if tuple(source) == tuple(target):
        return
    only = {"source": [c for c in source if c not in target],
            "target": [c for c in target if c not in source]}
    detail = "; ".join(f"only in {side}: {name_some(names)}" for side, names in only.items()
                       if names) or "same names in a different order"
    raise DataError(f"source and target class lists differ ({detail}); pick shared ones with --classes")
