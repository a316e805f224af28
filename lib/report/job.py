"""`raydapt report`: find runs, summarise them (or one run in depth), print in the asked
format, write figures and a page."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

from lib.config import ReportConfig
from lib.errors import NoInputError, name_some
from lib.metrics.schema import BENCH
from lib.report import figures as figs
from lib.report.load import Metrics, read_metrics
from lib.report.page import page
from lib.report.render import csv_text, json_text, markdown, rich_text
from lib.report.summary import GROUP_COLUMNS, RUN_COLUMNS, by_seed, run_tables, summarize
from lib.report.views import bench_table, epoch_rows, group_table, run_detail, summary_table


def _bench(metrics: Metrics, config: ReportConfig):
    rows = [r for r in metrics.read("bench").to_pylist()
            if config.filters.match is None or fnmatch.fnmatchcase(r["run"], config.filters.match)]
    return [bench_table(rows)], rows, BENCH.names, []


def _one_run(metrics: Metrics, config: ReportConfig):
    runs = run_tables(metrics)
    run = runs.get(config.run)
    if run is None:
        raise NoInputError(f"--run {config.run}: no such run in {name_some(config.locations)} "
                           f"(found: {name_some(sorted(runs))})")
    return run_detail(run, config.selection), *epoch_rows(run), [run]


def _summary(metrics: Metrics, config: ReportConfig):
    runs = run_tables(metrics)
    rows = summarize(runs, config.selection, config.filters)
    if not rows:
        raise NoInputError(f"no run matches the filters ({len(runs)} runs found in "
                           f"{name_some(config.locations)})")
    reported = [runs[r["run"]] for r in rows]
    if config.seeds == "mean":
        groups = by_seed(rows, runs)
        return [group_table(groups, config.selection)], groups, GROUP_COLUMNS, reported
    return [summary_table(rows, config.selection)], rows, RUN_COLUMNS, reported


def report(config: ReportConfig) -> None:
    metrics = read_metrics(config.locations)
    part = _bench if config.filters.job == "bench" else _one_run if config.run else _summary
    tables, rows, columns, reported = part(metrics, config)
    for warning in metrics.warnings:
        print(f"warning: {warning}", file=sys.stderr)

    text = {"table": lambda: rich_text(tables), "markdown": lambda: markdown(tables),
            "csv": lambda: csv_text(rows, columns), "json": lambda: json_text(rows, columns)}
    sys.stdout.write(text[config.output.format]())

    if not (config.output.plots or config.output.html):
        return
    pictures = {run.name: figs.run_figures(run, config.selection, metrics) for run in reported}
    if config.output.plots:
        for name, pngs in pictures.items():
            folder = Path(config.output.plots) / name
            folder.mkdir(parents=True, exist_ok=True)
            for figure, data in pngs.items():
                (folder / f"{figure}.png").write_bytes(data)
        print(f"wrote {sum(map(len, pictures.values()))} figures under {config.output.plots}",
              file=sys.stderr)
    if config.output.html:
        title = f"raydapt report: {config.run}" if config.run else "raydapt report"
        Path(config.output.html).write_text(page(title, config.locations, tables, pictures))
        print(f"wrote {config.output.html}", file=sys.stderr)
