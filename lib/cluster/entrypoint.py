"""Job command lines checked by the job's own CLI without running it: what a cluster
would run is found wrong here, before it is submitted or committed to a manifest."""

from __future__ import annotations

import shlex

import typer
from typer.exceptions import TyperException

from lib.errors import UsageError


def parse_job_args(job: str, args: list[str]):
    """The config `python -m jobs.<job> ARGS` would run with; UsageError if it would not
    start (unknown job, unknown option, bad value, missing required option)."""
    from lib.cli import command
    from lib.jobs_table import JOBS

    if job not in JOBS:
        raise UsageError(f"unknown job {job!r}: use one of {', '.join(JOBS)}")
    parsed = []
    app = typer.Typer(add_completion=False)
    app.command(job)(command(JOBS[job][0], parsed.append))
    try:
        typer.main.get_command(app).main(args=list(args), prog_name=f"python -m jobs.{job}",
                                          standalone_mode=False)
    except TyperException as e:
        raise UsageError(f"{job}: {e.format_message()}") from None
    return parsed[0]


def parse_command_line(line: str) -> tuple[str, object]:
    """(job, config) of a `python -m jobs.<job> ...` command line, as a shell splits it."""
    words = shlex.split(line)
    try:
        at = words.index("-m")
    except ValueError:
        raise UsageError(f"not a `python -m jobs.<name>` command: {line!r}") from None
    module = words[at + 1]
    if not module.startswith("jobs."):
        raise UsageError(f"not a raydapt job module: {module}")
    job = module.removeprefix("jobs.")
    return job, parse_job_args(job, words[at + 2:])
