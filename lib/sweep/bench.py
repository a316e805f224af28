"""The bench's `sweep` part: one grid of adapt runs timed as one `raydapt sweep` and as
one CLI command per run, one after the other, in the same bench run. Each command pays
Python's, TensorFlow's and Ray's start-up; the sweep pays Ray's once and overlaps its
trials where the cluster fits more than one. A warm-up sweep of one epoch extracts
every feature-cache entry first, so neither timed side extracts what the other reads.

Output of the runs goes to the bench's log (the subprocesses inherit its fds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import product

from lib.errors import RaydaptError
from lib.measurement import Measurement

# 2 methods x 2 shifts x 3 seeds: the grid the sweep's speed is judged on (issue 16).
GRID = {"method": ["dann", "cdan"], "target-shift": ["fog@4", "contrast@5"],
        "seed": [0, 1, 2]}


def shared_options(source: str, per_class: int, epochs: int, storage: str) -> dict:
    """What every run of both sides takes: the source's first images as source and (under
    the grid's shift) target, and its first images again to evaluate on (the timing
    matters here, not the figure); random weights, block4 cached. One CPU a worker: a
    step on cached features is a few hundred small ops, which a second core barely
    speeds, while it lets a 2-core machine hold two trials at once."""
    return {"source": source, "target": source, "source-val": source, "target-test": source,
            "limit-per-class": per_class, "eval-limit-per-class": per_class,
            "weights": "none", "feature-layer": "block4_pool", "epochs": epochs,
            "cpus-per-worker": 1, "storage": storage}


def spec_text(name: str, options: dict, grid: dict) -> str:
    """A sweep spec (TOML; JSON's strings, numbers and lists are TOML's too)."""
    lines = ["job = \"adapt\"", f"name = {json.dumps(name)}", "[options]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    lines += ["[grid]"] + [f"{key} = {json.dumps(values)}" for key, values in grid.items()]
    return "\n".join(lines) + "\n"


def command_lines(options: dict, grid: dict, run_prefix: str) -> list[list[str]]:
    """The sweep's runs as `python -m jobs.adapt` commands, in the sweep's order."""
    def flags(pairs) -> list[str]:
        return [arg for key, value in pairs for arg in (f"--{key}", str(value))]

    base = [sys.executable, "-m", "jobs.adapt", *flags(options.items())]
    return [[*base, *flags(zip(grid, values)), "--run-name", f"{run_prefix}-{i}"]
            for i, values in enumerate(product(*grid.values()))]


def _run(command: list[str], what: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(command)
    if done.returncode != 0:
        raise RaydaptError(f"bench sweep: {what} exited {done.returncode} (its output is "
                           f"in the bench's log)")
    return time.perf_counter() - started


def sweep_against_commands(source: str, per_class: int, epochs: int, scratch: str, run: str,
                           grid: dict = GRID) -> list[Measurement]:
    """Measurements: the grid as one sweep, and as one command per run."""
    os.makedirs(scratch, exist_ok=True)
    options = shared_options(source, per_class, epochs, scratch)
    specs = {}
    for name, opts in ((f"{run}-warm", options | {"epochs": 1}), (f"{run}-sweep", options)):
        specs[name] = f"{scratch}/{name}.toml"
        with open(specs[name], "w") as f:
            f.write(spec_text(name, opts, grid))
    _run([sys.executable, "-m", "jobs.sweep", specs[f"{run}-warm"]], "the warm-up sweep")
    commands = command_lines(options, grid, f"{run}-command")
    sequential = sum(_run(c, f"command {i + 1}") for i, c in enumerate(commands))
    # As many trials at once as cores: the sweep's rule keeps a CPU per run for its Ray
    # Data tasks, which runs on cached features hardly use.
    swept = _run([sys.executable, "-m", "jobs.sweep", specs[f"{run}-sweep"],
                  "--max-concurrent", str(os.cpu_count() or 1)], "the sweep")
    runs = len(commands)
    return [
        Measurement(f"sweep: {runs} adapt runs as one raydapt sweep", 0.0, 0.0, swept,
                    note=f"{swept:.0f} s, {swept / sequential:.2f}x the commands' wall "
                         f"({per_class}/class, {epochs} epochs, cached features, "
                         f"{os.cpu_count() or 1} at once)"),
        Measurement(f"sweep: the same {runs} runs as CLI commands one after another", 0.0,
                    0.0, sequential, note=f"{sequential:.0f} s, {sequential / runs:.0f} s a run"),
    ]
