"""A config field and its CLI help: the one way lib/config.py and the methods' own
options (lib/adapt/methods/) declare a setting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any

REQUIRED = object()


def option(default: Any, help: str | Callable[[], str], *,
           check: Callable[[Any], Any] | None = None, min: float | None = None,
           argument: bool = False) -> Any:
    """A config field and its CLI help; `help` may be a function giving it when a command
    is built (help that lists what config cannot import). `check` raises ValueError on a
    bad value (on each item of a list); a command's may raise UsageError, as the parsers
    do. `argument`: positional on the command line instead of an --option."""
    meta = {"help": help, "check": check, "min": min, "argument": argument}
    if default is REQUIRED:
        return field(metadata=meta)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def group(cls, title: str) -> Any:
    return field(default_factory=cls, metadata={"group": title})
