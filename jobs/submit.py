"""python -m jobs.submit [--address URL] [--no-wait] JOB [JOB OPTIONS]: send
`python -m jobs.JOB ...` to a Ray cluster and follow it."""

from jobs import run_one

if __name__ == "__main__":
    run_one("submit")
