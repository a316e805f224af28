"""python -m jobs.bench [...]: throughput and MFU of every path on this machine."""

from jobs import run_one

if __name__ == "__main__":
    run_one("bench")
