"""What a source offers before any pixel is read, and the hash its fingerprint is."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """What a source offers, in stable order, before any pixel is read."""

    example_ids: Sequence[str]  # a tuple, or columns.Names for a large listing
    labels: np.ndarray
    class_names: tuple[str, ...]


def digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]
