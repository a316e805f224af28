"""Build Typer commands from the typed configs in lib/config.py.

A nested dataclass field becomes a help panel; its fields become flat options
(`--limit-per-class`), so `python -m jobs.x`, `raydapt x` and `typer jobs run x` all
share one definition. User-fixable errors end as one stderr line and their exit code.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from lib.adapt import methods  # noqa: F401 - importing it registers the methods into lib.config
from lib.config import config_from_dict
from lib.errors import RaydaptError, UsageError


def _leaves(cls, panel: str | None = None):
    """(path, field, panel, type) for every non-group field, depth first."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            for path, leaf, leaf_panel, hint in _leaves(hints[f.name], f.metadata["group"]):
                yield (f.name, *path), leaf, leaf_panel, hint
        else:
            yield (f.name,), f, panel, hints[f.name]


def _checker(check):
    def callback(value):
        if value is not None and check is not None:
            try:
                for item in value if isinstance(value, list) else [value]:
                    check(item)
            except (ValueError, UsageError) as e:
                raise typer.BadParameter(str(e)) from None
        return value

    return callback


def command(cls, run: Callable[[Any], Any]) -> Callable[..., None]:
    """A function Typer can register: its parameters are cls's leaf fields."""
    params, annotations, paths = [], {}, {}
    for path, f, panel, hint in _leaves(cls):
        name = path[-1]
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        required = default is dataclasses.MISSING
        text = f.metadata["help"]
        common = {"help": text() if callable(text) else text, "rich_help_panel": panel,
                  "callback": _checker(f.metadata.get("check")), "show_default": not required}
        if f.metadata.get("argument"):
            param = typer.Argument(metavar=name.upper(), **common)
        else:
            flag = f"--{name.replace('_', '-')}"
            if hint is bool:  # a switch that defaults to on must be able to turn off
                flag = f"{flag}/--no-{name.replace('_', '-')}"
            param = typer.Option(flag, min=f.metadata.get("min"), **common)
        annotations[name] = Annotated[hint, param]
        params.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotations[name],
            default=inspect.Parameter.empty if required else default))
        paths[name] = path

    def invoke(**kwargs) -> None:
        nested: dict = {}
        for name, value in kwargs.items():
            *groups, leaf = paths[name]
            parent = nested
            for key in groups:
                parent = parent.setdefault(key, {})
            parent[leaf] = value
        config = config_from_dict(cls, nested)
        try:
            run(config)
        except RaydaptError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(e.exit_code) from None

    invoke.__signature__ = inspect.Signature(params)
    invoke.__annotations__ = annotations
    invoke.__doc__ = inspect.getdoc(cls)
    return invoke


def lazy(target: str) -> Callable[[Any], Any]:
    """'module:function', imported on first call so `--help` stays fast (no TF, no Ray)."""
    module, _, name = target.partition(":")

    def call(config):
        import importlib

        return getattr(importlib.import_module(module), name)(config)

    return call


def run_app(app: typer.Typer) -> None:
    """Run a Typer app so a usage error is one line on stderr and exit 2, like our own
    errors, instead of Typer's multi-line panel. `--help` and no-argument help still print."""
    from typer.exceptions import TyperException

    try:
        code = app(standalone_mode=False)
    except TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
        else:
            print(f"error: {e.format_message()} (see --help)", file=sys.stderr)
        raise SystemExit(getattr(e, "exit_code", 2)) from None
    raise SystemExit(code if isinstance(code, int) else 0)
