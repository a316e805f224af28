"""The methods `--method` names: every module in this package holds one Method subclass
(lib/adapt/method.py) and is registered by being here. tests/adapt run every registered
method through the same tests."""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import sys
import typing
from functools import cache

from lib.adapt.method import Method
from lib.config import plug_methods
from lib.errors import RaydaptError, UsageError


class UnknownMethod(RaydaptError, ValueError):
    exit_code = 2


@cache
def registry() -> dict[str, type[Method]]:
    """{name: class}, in name order. Importing a method's module imports no TensorFlow."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, Method) and \
                    cls.__module__ == module.__name__ and "name" in vars(cls):
                if cls.name in found:
                    raise RuntimeError(f"two methods named {cls.name!r}: {found[cls.name]}, {cls}")
                found[cls.name] = cls
    return dict(sorted(found.items()))


def method_class(name: str) -> type[Method]:
    methods = registry()
    if name not in methods:
        raise UnknownMethod(f"--method {name!r}: use one of {', '.join(methods)}")
    return methods[name]


def _value(text: str, kind: type, name: str):
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{name} takes true or false, not {text!r}")
        return text.lower() in ("true", "1")
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} takes a{'n' if kind is int else ''} {kind.__name__}, "
                         f"not {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {text!r}")
    return value


def parse_options(cls: type[Method], texts: list[str] | tuple[str, ...]):
    """The method's Options from NAME=VALUE texts; anything unknown or out of range is a
    usage error naming the option and what is valid."""
    fields = {f.name: f for f in dataclasses.fields(cls.Options)}
    kinds = typing.get_type_hints(cls.Options)
    values = {}
    for text in texts:
        name, equals, raw = text.partition("=")
        name = name.strip().replace("-", "_")
        if not equals:
            raise UsageError(f"--method-opt {text!r}: use NAME=VALUE")
        if name not in fields:
            known = ", ".join(fields) if fields else "none"
            raise UsageError(f"--method-opt {name}: {cls.name} has no such option "
                             f"(its options: {known})")
        field = fields[name]
        try:
            value = _value(raw.strip(), kinds[name], name)
            low = field.metadata.get("min")
            if low is not None and value < low:
                raise ValueError(f"{name} must be >= {low}, not {raw.strip()}")
            check = field.metadata.get("check")
            if check is not None:
                check(value)
        except ValueError as e:
            raise UsageError(f"--method-opt {text!r} ({cls.name}): {e}") from None
        values[name] = value
    return cls.Options(**values)


def canonical_options(cls: type[Method], options) -> list[str]:
    """Every option of the method as NAME=VALUE, defaults included: what a run records."""
    return [f"{f.name}={json_value(getattr(options, f.name))}"
            for f in dataclasses.fields(cls.Options)]


def json_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def get_method(name: str, option_texts: list[str] | tuple[str, ...] = ()) -> Method:
    cls = method_class(name)
    return cls(parse_options(cls, option_texts))


def options_help() -> str:
    """Each method's options with their defaults, for --help."""
    parts = []
    for name, cls in registry().items():
        fields = dataclasses.fields(cls.Options)
        if fields:
            parts.append(f"{name}: " + ", ".join(f"{f.name}={json_value(f.default)}"
                                                  for f in fields))
    return "; ".join(parts)


# The registry registers itself into config, which cannot import it (it sits below the
# methods): --method's check and help read it from there.
plug_methods(sys.modules[__name__])
