"""`raydapt submit` and `raydapt job` without a cluster: what is checked before anything
is sent, and how an unreachable cluster is reported."""

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from jobs import SUBMIT_CONTEXT
from lib.cli import command
from lib.cluster.submit import entrypoint
from lib.config import SubmitConfig
from tests.conftest import REPO

RAYDAPT = str(Path(sys.executable).parent / "raydapt")
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens


def parsed(*args) -> SubmitConfig:
    seen = []
    app = typer.Typer()
    app.command("submit", context_settings=SUBMIT_CONTEXT)(command(SubmitConfig, seen.append))
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["submit", *args])
    assert result.exit_code == 0, result.output
    return seen[0]


def test_options_after_the_job_belong_to_the_job():
    config = parsed("--no-wait", "--address", "http://head:8265", "adapt", "--target",
                    "folder:x", "--address", "auto", "--workers", "2")
    assert (config.job, config.wait, config.cluster.address) == \
        ("adapt", False, "http://head:8265")
    assert config.job_args == ["--target", "folder:x", "--address", "auto", "--workers", "2"]
    assert entrypoint(config.job, config.job_args) == \
        "python -m jobs.adapt --target folder:x --address auto --workers 2"
    assert entrypoint("adapt", ["--run-name", "a b"]) == "python -m jobs.adapt --run-name 'a b'"


def run(*args):
    return subprocess.run([RAYDAPT, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, code, message", [
    (["adapt", "--targt", "x"], 2, "error: adapt: No such option: --targt"),
    (["train"], 2, "error: unknown job 'train'"),
    (["submit", "adapt"], 2, "error: submit submits jobs, not itself"),
    (["adapt", "--target", "folder:/x"], 69, f"error: no Ray job API at {NOWHERE}"),
])
def test_submit_errors_before_or_at_the_cluster(args, code, message):
    result = run("submit", "--address", NOWHERE, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["status", "raysubmit_x"], ["logs", "raysubmit_x"],
                                     ["stop", "raysubmit_x"], ["list"]])
def test_job_commands_report_an_unreachable_cluster(command):
    result = run("job", *command, "--address", NOWHERE)
    assert result.returncode == 69 and f"no Ray job API at {NOWHERE}" in result.stderr


def test_python_m_jobs_submit_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "jobs.submit", "--address", NOWHERE,
                             "adapt", "--targt", "x"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "No such option: --targt" in result.stderr
