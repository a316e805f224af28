"""Talking to a cluster's job API (Ray's Job Submission SDK) with our token, and
following a submission to its end."""

from __future__ import annotations

import asyncio
import sys
import time

from lib.cluster.environment import auth_headers
from lib.errors import RaydaptError

LOCAL_HEAD = "http://127.0.0.1:8265"


class Unreachable(RaydaptError):
    exit_code = 69  # EX_UNAVAILABLE


class Refused(RaydaptError):
    """The cluster refused our token (missing or wrong)."""

    exit_code = 77  # EX_NOPERM


class JobFailed(RaydaptError):
    """The submitted job failed: its driver's exit code, or 1 when it has none."""

    def __init__(self, message: str, exit_code: int | None):
        super().__init__(message)
        self.exit_code = exit_code or 1


class JobStopped(RaydaptError):
    exit_code = 143  # as the job itself exits on SIGTERM


def connect(options):
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    from lib.runtime import cluster_address

    address = cluster_address(options.address) or LOCAL_HEAD
    try:
        return JobSubmissionClient(address, headers=auth_headers())
    except ConnectionError:
        raise Unreachable(f"no Ray job API at {address} (is the head up? --address or "
                          f"RAY_ADDRESS)") from None
    except AuthenticationError as e:
        reason = str(e).splitlines()[0].split(". ")[0]
        raise Refused(f"{address} refused the request: {reason} (set RAY_AUTH_TOKEN or "
                      f"RAY_AUTH_TOKEN_PATH, or put the cluster's token in "
                      f"~/.ray/auth_token)") from None


def print_log(client, submission_id: str, follow: bool) -> None:
    if not follow:
        sys.stdout.write(client.get_job_logs(submission_id))
        return

    async def tail():
        async for chunk in client.tail_job_logs(submission_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    asyncio.run(tail())


def wait_until_done(client, submission_id: str, poll_s: float = 1.0):
    while not (info := client.get_job_info(submission_id)).status.is_terminal():
        time.sleep(poll_s)
    return info


def outcome(submission_id: str, info) -> None:
    """Return for a job that succeeded; raise with the job's own exit code otherwise."""
    status = str(info.status.value)
    if status == "SUCCEEDED":
        print(f"job {submission_id} succeeded", file=sys.stderr)
        return
    if status == "STOPPED":
        raise JobStopped(f"job {submission_id} was stopped")
    code = getattr(info, "driver_exit_code", None)
    # Ray appends the log's tail to the message; the log was printed already.
    reason = " ".join((info.message or "").split(", last available logs")[0].split())[:500]
    raise JobFailed(f"job {submission_id} failed" + (f" (exit {code})" if code else "")
                    + (f": {reason}" if reason else ""), code)


def follow(client, submission_id: str) -> None:
    """Stream the log to stdout until the job ends, then end as it did. Ctrl-C stops
    following, not the job."""
    try:
        print_log(client, submission_id, follow=True)
        info = wait_until_done(client, submission_id)
    except KeyboardInterrupt:
        print(f"\nstopped following; {submission_id} goes on "
              f"(raydapt job logs --follow / status / stop {submission_id})", file=sys.stderr)
        raise SystemExit(130) from None
    outcome(submission_id, info)


def status(config) -> None:
    info = connect(config.cluster).get_job_info(config.submission_id)
    print(f"{config.submission_id}: {info.status.value}"
          + (f" ({info.message})" if info.message else ""))
    print(f"  entrypoint: {info.entrypoint}")
    if getattr(info, "driver_exit_code", None) is not None:
        print(f"  exit code: {info.driver_exit_code}")


def logs(config) -> None:
    print_log(connect(config.cluster), config.submission_id, config.follow)


def stop(config) -> None:
    client = connect(config.cluster)
    sent = client.stop_job(config.submission_id)
    if not config.wait:
        print(f"{config.submission_id}: stop " + ("requested" if sent else "not needed"))
        return
    info = wait_until_done(client, config.submission_id)
    print(f"{config.submission_id}: {info.status.value}")


def list_jobs(config) -> None:
    jobs = sorted(connect(config.cluster).list_jobs(), key=lambda j: j.start_time or 0)
    for job in jobs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((job.start_time or 0) / 1000))
        print(f"{job.submission_id or job.job_id}  {job.status.value:<9}  {started}  "
              f"{job.entrypoint}")
