"""Build Typer commands from the typed configs in lib/config.py.

A nested dataclass field becomes a help panel; its fields become flat options
(`--limit-per-class`), so `python -m jobs.x`, `raydapt x` and `typer jobs run x` all
share one definition. User-fixable errors end as one stderr line and their exit code.
The adaptation methods, which sit above lib/config.py, are plugged into it here: --method's
check and the help listing the methods need them.
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
from lib.errors import RaydaptError


def _leaves(cls, panel: str | None = None):
    """(path, field, panel) for every non-group field, depth first."""
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
            except ValueError as e:
                raise typer.BadParameter(str(e)) from None
        return value

    return callback


def build(cls, values: dict[tuple[str, ...], Any]):
    """Instantiate a (nested) config from {field path: value}."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            kwargs[f.name] = build(hints[f.name], {p[1:]: v for p, v in values.items()
                                                   if p[0] == f.name})
        elif (f.name,) in values:
            kwargs[f.name] = values[(f.name,)]
    return cls(**kwargs)


def command(cls, run: Callable[[Any], Any]) -> Callable[..., None]:
    """A function Typer can register: its parameters are cls's leaf fields."""
    params, annotations, paths = [], {}, {}
    for path, f, panel, hint in _leaves(cls):
        name = path[-1]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
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
        config = build(cls, {paths[k]: v for k, v in kwargs.items()})
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
