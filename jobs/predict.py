"""python -m jobs.predict MODEL --data URI --out FILE.parquet [...]: predictions."""

from jobs import run_one

if __name__ == "__main__":
    run_one("predict")
