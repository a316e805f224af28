"""The summary's numbers: the reported epoch, gains over the matching baseline, seed
means and spreads, filters."""

import statistics

import pytest

from lib.config import ReportFilters
from lib.report.load import read_metrics
from lib.report.summary import GROUP_COLUMNS, RUN_COLUMNS, by_seed, run_tables, summarize
from tests.report.sweep import write_adapt_run, write_sweep


@pytest.fixture
def sweep(tmp_path):
    write_sweep(tmp_path)
    return run_tables(read_metrics([str(tmp_path)]))


def rows_by_run(runs, rule="source_val", **filters):
    return {r["run"]: r for r in summarize(runs, rule, ReportFilters(**filters))}


def test_each_run_reports_its_selected_epoch_and_gain_over_its_own_seed(sweep):
    rows = rows_by_run(sweep)
    assert all(list(r) == list(RUN_COLUMNS) for r in rows.values())
    dann = rows["dann-s1"]
    assert dann["selected_epoch"] == 1 and dann["target_accuracy"] == pytest.approx(0.44)
    assert dann["source_accuracy"] == pytest.approx(0.51)
    assert dann["gain"] == pytest.approx(0.44 - 0.32)  # source-only seed 1, not seed 0
    assert rows["oracle-s0"]["oracle"] is True and rows["oracle-s0"]["gain"] == pytest.approx(0.2)
    assert rows["source-only-s0"]["gain"] is None
    assert dann["a_distance_before"] == 1.5 and dann["a_distance_after"] == pytest.approx(1.1)
    assert dann["images_per_s"] == 200.0  # epoch 0 (tracing) left out
    assert dann["shift"] == "fog@4" and dann["seed"] == 1 and dann["workers"] == 2
    assert (dann["epochs"], dann["epochs_planned"], dann["status"]) == (2, 2, "completed")
    finetune = rows["ft"]
    assert (finetune["selection"], finetune["selected_epoch"]) == ("last", 1)
    assert finetune["source_accuracy"] == pytest.approx(0.6)
    assert finetune["target_accuracy"] is None


def test_the_criterion_decides_the_reported_epoch(tmp_path):
    # source_val accuracy rises every epoch; target accuracy peaks at epoch 0.
    write_adapt_run(tmp_path, "r", "dann", 0, [0.5, 0.3, 0.4])
    runs = run_tables(read_metrics([str(tmp_path)]))
    picked = {rule: rows_by_run(runs, rule=rule)["r"] for rule in
              ("source_val", "oracle_target_test", "last")}
    assert {rule: (r["selected_epoch"], r["target_accuracy"]) for rule, r in picked.items()} \
        == {"source_val": (2, 0.4), "oracle_target_test": (0, 0.5), "last": (2, 0.4)}
    assert picked["oracle_target_test"]["selection"] == "oracle_target_test"
    assert picked["oracle_target_test"]["a_distance_after"] == pytest.approx(1.0)  # epoch 0's


def test_a_run_still_running_is_summarised_from_its_epochs_so_far(tmp_path):
    write_adapt_run(tmp_path, "live", "dann", 0, [0.3, 0.2], finished=False)
    row = rows_by_run(run_tables(read_metrics([str(tmp_path)])))["live"]
    assert row["status"] == "running" and row["epochs"] == 2
    assert row["selected_epoch"] == 1 and row["target_accuracy"] == pytest.approx(0.2)
    assert row["wall_seconds"] is None


def test_filters(sweep):
    assert set(rows_by_run(sweep, job="finetune")) == {"ft"}
    assert set(rows_by_run(sweep, method="dann")) == {"dann-s0", "dann-s1"}
    assert set(rows_by_run(sweep, match="*-s1")) == {"source-only-s1", "dann-s1", "oracle-s1"}
    assert set(rows_by_run(sweep, shift="contrast@5")) == set()
    assert len(rows_by_run(sweep, status="completed")) == 7
    # A filter never changes a gain: the baseline is found among all runs.
    assert rows_by_run(sweep, method="dann")["dann-s0"]["gain"] == pytest.approx(0.10)


def test_runs_differing_only_in_seed_become_one_row(sweep):
    groups = by_seed(summarize(sweep, "source_val", ReportFilters()), sweep)
    assert all(list(g) == list(GROUP_COLUMNS) for g in groups)
    by_method = {g["method"]: g for g in groups}
    assert [g["runs"] for g in groups] == [2, 2, 2, 1]
    dann = by_method["dann"]
    assert dann["seeds"] == "0,1" and dann["status"] == "2 completed"
    assert dann["target_accuracy_mean"] == pytest.approx(0.42)
    assert dann["target_accuracy_std"] == pytest.approx(statistics.stdev([0.40, 0.44]))
    assert dann["gain_mean"] == pytest.approx(0.11)
    assert by_method["finetune"]["source_accuracy_std"] is None  # one run: no spread


def test_a_different_hyperparameter_is_another_experiment(tmp_path):
    write_adapt_run(tmp_path, "a", "dann", 0, [0.4])
    write_adapt_run(tmp_path, "b", "dann", 1, [0.5], shift="contrast@5")
    runs = run_tables(read_metrics([str(tmp_path)]))
    assert [g["runs"] for g in by_seed(summarize(runs, "source_val", ReportFilters()), runs)] \
        == [1, 1]
