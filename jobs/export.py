"""python -m jobs.export RUN --out MODEL.keras [...]: a run's kept epoch as a model file."""

from jobs import run_one

if __name__ == "__main__":
    run_one("export")
