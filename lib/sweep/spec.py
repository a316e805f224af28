"""A sweep's spec: a TOML file naming the job, the options every run shares and a grid of
values; each grid point is one run, checked by the job's own CLI before anything starts.

    job = "adapt"
    name = "table"                      # the runs are table-<grid values>
    [options]                           # as the job's CLI takes them, without the dashes
    source = "folder:/data/cifar10-jpeg/train"
    limit-per-class = 300
    [grid]                              # every combination is a run
    method = ["dann", "source-only"]
    seed = [0, 1, 2]
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass

from lib.errors import DataError, NoInputError, RaydaptError, UsageError

SWEEPABLE = ("adapt", "finetune")
# Run names are one path component (lib/config.check_run_name): what a grid value has
# beyond those characters becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its name and the job's config, as its CLI parsed the point's
    command line."""

    name: str
    config: object


@dataclass(frozen=True)
class Spec:
    job: str
    name: str
    points: tuple[Point, ...]


def _flag(option: str, value) -> list[str]:
    flag = f"--{option}"
    if isinstance(value, bool):
        return [flag if value else f"--no-{option}"]
    if isinstance(value, list):  # a repeatable option (--method-opt)
        return [word for item in value for word in (flag, str(item))]
    return [flag, str(value)]


def point_name(prefix: str, values: dict) -> str:
    """Readable and deterministic: the prefix, then each grid value in the grid's order."""
    return "-".join([prefix, *(_UNSAFE.sub("_", f"{k}={v}") for k, v in values.items())])


def load_spec(path: str) -> Spec:
    """The spec at `path`, every point checked: one line naming the first bad point."""
    from lib.cluster.entrypoint import parse_job_args

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise NoInputError(f"no sweep spec at {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise DataError(f"{path}: not TOML ({e})") from None
    job, name = data.get("job"), data.get("name")
    if job not in SWEEPABLE:
        raise UsageError(f"{path}: job = {job!r}: a sweep runs one of {', '.join(SWEEPABLE)}")
    if not isinstance(name, str) or not name or _UNSAFE.search(name):
        raise UsageError(f"{path}: name = {name!r}: give the runs' name prefix (letters, "
                         f"digits, . _ @ + = -)")
    options, grid = data.get("options", {}), data.get("grid", {})
    unknown = set(data) - {"job", "name", "options", "grid"}
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}: use job, name, "
                         f"[options], [grid]")
    for reserved in ("run-name", "resume"):
        if reserved in options or reserved in grid:
            raise UsageError(f"{path}: --{reserved} is the sweep's: each point is its own run")
    if not grid or any(not isinstance(v, list) or not v for v in grid.values()):
        raise UsageError(f"{path}: [grid] needs at least one option with a list of values")
    points = []
    for combination in itertools.product(*grid.values()):
        values = dict(zip(grid, combination))
        run = point_name(name, values)
        args = [word for option, value in (options | values).items()
                for word in _flag(option, value)] + ["--run-name", run]
        try:
            config = parse_job_args(job, args)
            if job == "adapt":  # what adapt checks beyond its CLI, before any data
                from lib.adapt.methods import get_method

                get_method(config.adapt.method, config.adapt.method_opt)
                if config.target is None:
                    raise UsageError("Missing option '--target'")
        except RaydaptError as e:  # a bad value is the spec's: exit 2, whatever found it
            where = ", ".join(f"{k}={v}" for k, v in values.items())
            raise UsageError(f"{path}: grid point {where}: {e}") from None
        points.append(Point(run, config))
    if len({p.name for p in points}) != len(points):
        raise UsageError(f"{path}: two grid points make the same run name (values that differ "
                         f"only in characters a run name cannot hold)")
    return Spec(job, name, tuple(points))
