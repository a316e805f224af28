"""python -m jobs.finetune --source URI --val URI [...]: VGG16 transfer learning."""

from jobs import run_one

if __name__ == "__main__":
    run_one("finetune")
