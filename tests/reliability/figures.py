"""Reliability tests report figures (seconds to recover, steps redone, ...): printed on
the terminal even under pytest's capture, and appended as JSON lines to the file named
by RAYDAPT_FIGURES when set, which is how the README's reliability table is made."""

from __future__ import annotations

import json
import os


def report_figures(capsys, scenario: str, **figures) -> None:
    line = {"scenario": scenario, **figures}
    with capsys.disabled():
        print(f"\nFIGURES {json.dumps(line)}")
    if os.environ.get("RAYDAPT_FIGURES"):
        with open(os.environ["RAYDAPT_FIGURES"], "a") as f:
            f.write(json.dumps(line) + "\n")
