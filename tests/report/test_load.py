"""Finding runs and reading their tables: broken, newer and temp files are named and
skipped, the rest still read."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lib.errors import NoInputError
from lib.metrics.schema import EPOCHS, SCHEMA_VERSION
from lib.report.load import read_metrics
from tests.report.sweep import write_adapt_run, write_sweep


def test_a_storage_and_a_run_directory_are_both_found(tmp_path):
    write_sweep(tmp_path / "a")
    metrics = read_metrics([str(tmp_path / "a")])
    assert sorted(r.name for r in metrics.runs) == sorted(
        ["source-only-s0", "source-only-s1", "dann-s0", "dann-s1", "oracle-s0", "oracle-s1",
         "ft"])
    one = read_metrics([str(tmp_path / "a" / "dann-s0")])
    assert [r.name for r in one.runs] == ["dann-s0"]
    assert set(one.read("epochs").column("run").to_pylist()) == {"dann-s0"}


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_nothing_to_read_is_exit_66_naming_the_place(tmp_path, make):
    place = tmp_path / "runs"
    if make == "empty":
        place.mkdir()
    elif make == "file":
        place.write_text("x")
    with pytest.raises(NoInputError, match=str(place)) as error:
        read_metrics([str(place)])
    assert error.value.exit_code == 66


def test_broken_newer_and_temp_files_are_named_and_skipped(tmp_path):
    write_adapt_run(tmp_path, "r", "dann", 0, [0.2, 0.3, 0.4])
    metrics_dir = tmp_path / "r" / "metrics"
    truncated = metrics_dir / "epochs-e0001.parquet"
    truncated.write_bytes(truncated.read_bytes()[:200])
    (metrics_dir / "evals-e0002.parquet").write_text("epoch,accuracy\n2,0.4\n")  # not Parquet
    newer = pa.Table.from_pylist([{"run": "r", "epoch": 7}], schema=EPOCHS).replace_schema_metadata(
        {b"raydapt.table": b"epochs", b"raydapt.schema_version": str(SCHEMA_VERSION + 1).encode()})
    pq.write_table(newer, metrics_dir / "epochs-e0007.parquet")
    (metrics_dir / ".1234abcd.tmp").write_bytes(b"PAR1 half written")

    metrics = read_metrics([str(tmp_path)])
    assert sorted(metrics.read("epochs").column("epoch").to_pylist()) == [0, 2]
    assert sorted(metrics.read("evals").column("epoch").to_pylist()) == [0, 0, 1, 1]
    warnings = "\n".join(metrics.warnings)
    assert f"skipped {truncated}: not a readable Parquet file" in warnings
    assert "evals-e0002.parquet: not a readable Parquet file" in warnings
    assert f"epochs-e0007.parquet: schema version {SCHEMA_VERSION + 1} is newer" in warnings
    assert ".tmp" not in warnings and len(metrics.warnings) == 3


def test_an_older_file_reads_with_new_columns_as_nulls(tmp_path):
    write_adapt_run(tmp_path, "r", "dann", 0, [0.2])
    v1 = pa.schema([f for f in EPOCHS if f.name not in ("reads_target_labels", "snd", "dev")])
    older = pa.Table.from_pylist([{"run": "r", "job": "adapt", "epoch": 1, "loss": 0.5}],
                                 schema=v1).replace_schema_metadata(
        {b"raydapt.table": b"epochs", b"raydapt.schema_version": b"1"})
    pq.write_table(older, tmp_path / "r" / "metrics" / "epochs-e0001.parquet")
    rows = read_metrics([str(tmp_path)]).read("epochs").sort_by("epoch").to_pylist()
    assert [(r["epoch"], r["snd"]) for r in rows] == [(0, 1.0), (1, None)]


def test_the_same_run_name_in_two_storages_is_read_once_with_a_warning(tmp_path):
    write_adapt_run(tmp_path / "a", "r", "dann", 0, [0.2])
    write_adapt_run(tmp_path / "b", "r", "dann", 0, [0.2, 0.3])
    metrics = read_metrics([str(tmp_path / "a"), str(tmp_path / "b")])
    assert len(metrics.read("epochs")) == 1
    assert metrics.warnings == [f"run r in {tmp_path / 'b'} left out: already read from "
                                f"{tmp_path / 'a'}"]
