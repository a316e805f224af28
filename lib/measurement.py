"""A row of `raydapt bench` (lib/bench.py): what one part measured. Its own module so the
areas that measure themselves (lib/data/bench.py, lib/sweep/bench.py) need not import the
bench that runs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Measurement:
    name: str
    images_per_s: float
    gflop_per_image: float
    seconds: float
    precision: str = "fp32"
    workers: int = 0          # 0: the driver process, outside Ray
    batch_size: int = 0
    note: str = ""
