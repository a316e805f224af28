"""Job command lines are checked by the job's own CLI, without running the job."""

import pytest

from lib.cluster.entrypoint import parse_command_line, parse_job_args
from lib.errors import UsageError
from lib.jobs_table import JOBS


def test_a_valid_command_gives_the_config_it_would_run_with():
    job, config = parse_command_line(
        "python -m jobs.adapt --target 'folder:/data/my images' --method source-only "
        "--workers 2 --gpus-per-worker 4")
    assert job == "adapt" and config.target == "folder:/data/my images"
    assert (config.adapt.method, config.scaling.workers, config.scaling.gpus_per_worker) == \
        ("source-only", 2, 4)


@pytest.mark.parametrize("job, args, message", [
    ("adapt", ["--targt", "x"], "adapt: No such option: --targt"),
    ("adapt", ["--workers", "0"], "Invalid value for '--workers'"),
    ("adapt", ["--target-shift", "fog@9"], "severity must be an integer 1-5"),
    ("prepare", ["--source", "folder:x"], "prepare: Missing option '--out'"),
    ("train", [], f"unknown job 'train': use one of {', '.join(JOBS)}"),
])
def test_what_would_not_start_is_a_usage_error(job, args, message):
    with pytest.raises(UsageError, match=message) as error:
        parse_job_args(job, args)
    assert error.value.exit_code == 2


def test_only_job_modules_are_commands():
    with pytest.raises(UsageError, match="not a raydapt job module: http.server"):
        parse_command_line("python -m http.server")
    with pytest.raises(UsageError, match="not a `python -m jobs.<name>` command"):
        parse_command_line("bash run.sh")
