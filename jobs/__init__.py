"""raydapt's jobs: one Typer app (`raydapt`, `typer jobs run`); each job also runs as
`python -m jobs.<name>` with the same options. A job is a config class and one lib
function taking it; this table is the only place that pairs them."""

import typer

from lib.cli import command, lazy, run_app
from lib.config import AdaptConfig, BenchConfig, FinetuneConfig, PrepareConfig, ReportConfig

JOBS = {
    "prepare": (PrepareConfig, "lib.prepare:prepare"),
    "finetune": (FinetuneConfig, "lib.finetune:finetune"),
    "adapt": (AdaptConfig, "lib.adapt.job:adapt"),
    "bench": (BenchConfig, "lib.bench:bench"),
    "report": (ReportConfig, "lib.report.job:report"),
}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _suite() -> None:
    """Ray batch jobs: transfer learning and domain adaptation of VGG16 on CIFAR-10."""

for _name, (_config, _target) in JOBS.items():
    app.command(_name)(command(_config, lazy(_target)))


def main() -> None:
    run_app(app)


def run_one(name: str) -> None:
    """Entry for `python -m jobs.<name>`: that job's options, no subcommand word."""
    config, target = JOBS[name]
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name)(command(config, lazy(target)))
    run_app(single)
