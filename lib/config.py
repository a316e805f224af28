"""Typed job configs. The CLI is generated from these (lib/cli.py); tests build them directly.

Fields are grouped like Ray's ScalingConfig/RunConfig: a nested dataclass is a group and
shows as one panel in `--help`. Every default lives here, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()


def option(default: Any, help: str, *, check: Callable[[Any], Any] | None = None,
           min: int | None = None) -> Any:
    """A config field and its CLI help; `check` raises ValueError on a bad value."""
    meta = {"help": help, "check": check, "min": min}
    if default is REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def group(cls, title: str) -> Any:
    return field(default_factory=cls, metadata={"group": title})


def _check_uri(text: str) -> None:
    from lib.data.uri import parse_uri

    parse_uri(text)


def _check_shift(text: str) -> None:
    from lib.data.shifts import parse_shift

    parse_shift(text)


@dataclass(frozen=True)
class SelectionConfig:
    limit_per_class: int | None = option(
        None, "Keep the first N images of each class, in stable (file name / index) order.", min=1)
    classes: str | None = option(
        None, "Comma-separated classes to keep and their label space, e.g. the 9 that "
              "CIFAR-10 and STL-10 share.")
    seed: int = option(0, "Seed for every random choice (corruptions, shuffling, init).")
    image_size: int = option(32, "Image side in pixels: STL-10 is resized to it.", min=8)


@dataclass(frozen=True)
class PrepareConfig:
    """Decode a dataset once into sharded Parquet plus a manifest."""

    source: str = option(REQUIRED, "Dataset URI: cifar10[:train|:test], folder:PATH, "
                                   "parquet:PATH, stl10:PATH[#split], cifar10c:PATH#NAME@SEV.",
                         check=_check_uri)
    out: str = option(REQUIRED, "Output directory, local or a pyarrow URI (s3://...).")
    target_shift: str | None = option(
        None, "Corrupt every image, CIFAR-10-C style: NAME@SEVERITY (1-5), e.g. fog@4.",
        check=_check_shift)
    overwrite: bool = option(False, "Replace --out when it holds a different dataset.")
    rows_per_file: int = option(10_000, "Rows per Parquet file (about 30 MB at 32x32).", min=1)
    selection: SelectionConfig = group(SelectionConfig, "Data selection")
