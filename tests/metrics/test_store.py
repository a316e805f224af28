import pyarrow as pa
import pyarrow.parquet as pq

from lib.metrics.schema import EPOCHS, SCHEMA_VERSION
from lib.metrics.store import MetricsStore


def row(epoch, loss):
    return {"run": "r", "job": "finetune", "method": "finetune", "config_hash": "h",
            "workers": 2, "replicas": 2, "epoch": epoch, "loss": loss, "accuracy": 0.5,
            "images_per_s": 10.0, "epoch_seconds": 1.0, "learning_rate": 1e-3}


def test_an_epoch_written_twice_is_one_row(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    store.write("epochs", [row(0, 2.0)], epoch=0)
    store.write("epochs", [row(1, 1.5)], epoch=1)
    store.write("epochs", [row(1, 1.4)], epoch=1)  # a restart redoing epoch 1
    table = store.read("epochs")
    assert table.column("epoch").to_pylist() == [0, 1]
    assert table.column("loss").to_pylist() == [2.0, 1.4]
    assert table.schema.metadata[b"raydapt.schema_version"] == str(SCHEMA_VERSION).encode()


def test_readers_ignore_temp_files_and_newer_schemas(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    store.write("epochs", [row(0, 2.0)], epoch=0)
    metrics = tmp_path / "r" / "metrics"
    (metrics / ".abc123.tmp").write_bytes(b"PAR1 half a file")
    newer = pa.Table.from_pylist([row(1, 1.0)], schema=EPOCHS).replace_schema_metadata(
        {b"raydapt.table": b"epochs", b"raydapt.schema_version": str(SCHEMA_VERSION + 1).encode()})
    pq.write_table(newer, metrics / "epochs-e0001.parquet")
    assert store.read("epochs").column("epoch").to_pylist() == [0]


def test_a_failed_write_leaves_no_file(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    try:
        store.write("epochs", [{"epoch": "not a number"}], epoch=0)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    else:
        raise AssertionError("a row that does not fit the schema must be refused")
    assert not list((tmp_path / "r").rglob("*.parquet"))
    assert not list((tmp_path / "r").rglob(".*"))
