"""Connecting to Ray: RAY_ADDRESS or --address when given, else a local instance."""

from __future__ import annotations

import logging


def init_ray(address: str | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    # Without an address ray.init reads RAY_ADDRESS (set for us under `ray job submit`),
    # then falls back to starting a local instance.
    ray.init(address=address, logging_level=logging.WARNING)
