"""raydapt's jobs: one Typer app (`raydapt`, `typer jobs run`); each job also runs as
`python -m jobs.<name>` with the same options. Which config class and lib function make
each command is lib's own table (lib/jobs_table.py); this builds the entry points from it."""

import typer

from lib.cli import command, lazy, run_app
from lib.jobs_table import JOB_COMMANDS, JOBS, SUBMIT

# submit's own options end at JOB; everything after it, --options included, is the job's.
SUBMIT_CONTEXT = {"allow_interspersed_args": False}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _suite() -> None:
    """Ray batch jobs: transfer learning and domain adaptation of VGG16 on CIFAR-10."""

for _name, (_config, _target) in JOBS.items():
    app.command(_name)(command(_config, lazy(_target)))
app.command("submit", context_settings=SUBMIT_CONTEXT)(command(SUBMIT[0], lazy(SUBMIT[1])))

job_app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="Follow submitted jobs: status, logs, stop, list.")
for _name, (_config, _target) in JOB_COMMANDS.items():
    job_app.command(_name)(command(_config, lazy(_target)))
app.add_typer(job_app, name="job")


def main() -> None:
    run_app(app)


def run_one(name: str) -> None:
    """Entry for `python -m jobs.<name>`: that job's options, no subcommand word."""
    config, target = SUBMIT if name == "submit" else JOBS[name]
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name, context_settings=SUBMIT_CONTEXT if name == "submit" else None)(
        command(config, lazy(target)))
    run_app(single)
