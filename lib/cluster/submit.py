"""`raydapt submit JOB ...`: check the job's options here, send `python -m jobs.JOB ...`
with the project's runtime environment, and follow it to its end."""

from __future__ import annotations

import shlex
import sys

from lib.cluster.client import connect, follow
from lib.cluster.entrypoint import parse_job_args
from lib.cluster.environment import runtime_env
from lib.config import SubmitConfig
from lib.errors import UsageError


def entrypoint(job: str, args: list[str]) -> str:
    return shlex.join(["python", "-m", f"jobs.{job}", *args])


def submit(config: SubmitConfig) -> str:
    if config.job == "submit":
        raise UsageError("submit submits jobs, not itself")
    parse_job_args(config.job, config.job_args)  # a typo fails here, not on the cluster
    env = runtime_env(config.install)
    client = connect(config.cluster)
    command = entrypoint(config.job, config.job_args)
    submission_id = client.submit_job(entrypoint=command, runtime_env=env,
                                      submission_id=config.submission_id,
                                      metadata={"raydapt.job": config.job})
    print(f"submitted {submission_id}: {command}", file=sys.stderr)
    if config.wait:
        follow(client, submission_id)
    else:
        print(submission_id)
    return submission_id
