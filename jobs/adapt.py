"""python -m jobs.adapt --source URI --target URI --target-shift NAME@SEV --target-test URI
[...]: domain adaptation (dann, source-only, oracle)."""

from jobs import run_one

if __name__ == "__main__":
    run_one("adapt")
