"""python -m jobs.prepare --source URI --out DIR [...]: decode a dataset once into Parquet."""

from jobs import run_one

if __name__ == "__main__":
    run_one("prepare")
