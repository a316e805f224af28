"""python -m jobs.evaluate RUN|MODEL --data URI [...]: accuracy and confusion on a dataset."""

from jobs import run_one

if __name__ == "__main__":
    run_one("evaluate")
