"""python -m jobs.sweep SPEC.toml [--dry-run] [...]: a grid of runs as Ray Tune trials."""

from jobs import run_one

if __name__ == "__main__":
    run_one("sweep")
