"""The CLI generated from a typed config: groups flatten, bools switch both ways."""

from dataclasses import dataclass

import typer
from typer.testing import CliRunner

from lib.cli import command
from lib.config import group, option


@dataclass(frozen=True)
class Inner:
    fast: bool = option(True, "On by default.")
    count: int = option(3, "How many.", min=1)


@dataclass(frozen=True)
class Outer:
    name: str = option("x", "A name.")
    inner: Inner = group(Inner, "Inner group")


def run(*args):
    seen = []
    app = typer.Typer()
    app.command("go")(command(Outer, seen.append))
    app.command("other")(lambda: None)  # two commands: "go" stays a subcommand
    result = CliRunner().invoke(app, ["go", *args])
    return result, seen


def test_defaults_and_nested_groups():
    result, seen = run()
    assert result.exit_code == 0, result.output
    assert seen == [Outer(name="x", inner=Inner(fast=True, count=3))]


def test_bool_defaulting_to_true_can_be_turned_off():
    result, seen = run("--no-fast", "--count", "5", "--name", "y")
    assert result.exit_code == 0, result.output
    assert seen == [Outer(name="y", inner=Inner(fast=False, count=5))]


def test_bounds_are_enforced():
    result, seen = run("--count", "0")
    assert result.exit_code == 2 and not seen


def _refuse_bad(place: str) -> None:
    if place == "bad":
        raise ValueError("bad place")


@dataclass(frozen=True)
class WithArgument:
    places: list[str] = option(["here"], "Where.", argument=True, check=_refuse_bad)
    loud: bool = option(False, "Shout.")


def run_with_argument(*args):
    seen = []
    app = typer.Typer()
    app.command("go")(command(WithArgument, seen.append))
    app.command("other")(lambda: None)
    return CliRunner().invoke(app, ["go", *args]), seen


def test_positional_list_with_default_and_per_item_check():
    result, seen = run_with_argument()
    assert result.exit_code == 0, result.output
    assert seen == [WithArgument(places=["here"], loud=False)]
    result, seen = run_with_argument("a", "b", "--loud")
    assert seen == [WithArgument(places=["a", "b"], loud=True)]
    result, seen = run_with_argument("a", "bad")
    assert result.exit_code == 2 and not seen and "bad place" in result.output
