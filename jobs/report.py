"""python -m jobs.report [STORAGE_OR_RUN ...] [--run RUN] [--format ...] [--plots DIR]
[--html FILE]: runs' Parquet metrics as tables, figures and a page."""

from jobs import run_one

if __name__ == "__main__":
    run_one("report")
