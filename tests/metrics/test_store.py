import errno
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


def test_a_version_1_file_reads_with_the_columns_added_since_as_nulls(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    store.write("epochs", [row(1, 1.0) | {"snd": 4.2, "reads_target_labels": False}], epoch=1)
    v1_fields = [f for f in EPOCHS if f.name not in ("reads_target_labels", "snd", "dev")]
    older = pa.Table.from_pylist([row(0, 2.0)], schema=pa.schema(v1_fields)).replace_schema_metadata(
        {b"raydapt.table": b"epochs", b"raydapt.schema_version": b"1"})
    pq.write_table(older, tmp_path / "r" / "metrics" / "epochs-e0000.parquet")
    table = store.read("epochs")
    assert table.schema.names == EPOCHS.names
    assert table.column("epoch").to_pylist() == [0, 1]
    assert table.column("snd").to_pylist() == [None, 4.2]
    assert table.column("reads_target_labels").to_pylist() == [None, False]


def test_the_before_training_file_is_read_with_the_epochs(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    identity = {k: v for k, v in row(0, 0.0).items() if k in ("run", "job", "method")}
    for epoch in (-1, 0):
        store.write("domain_distance", [identity | {"epoch": epoch, "representation": "x",
                                                    "samples": 10, "proxy_a_distance": 1.0}],
                    epoch=epoch)
    assert sorted(store.read("domain_distance").column("epoch").to_pylist()) == [-1, 0]
    assert (tmp_path / "r" / "metrics" / "domain_distance-start.parquet").is_file()


class _DiskFillsUp:
    """An output stream that takes `room` bytes, then fails like a full disk: the file is open
    and partly written when the error comes."""

    def __init__(self, stream, room):
        self._stream, self._room = stream, room

    def write(self, data):
        data = memoryview(data)
        self._stream.write(data[:self._room])
        self._room -= min(len(data), self._room)
        if self._room == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return len(data)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stream.close()


class _FillingFileSystem:
    """The store's own filesystem, recording the paths it opens for writing; with `room`, the
    streams it opens fail after that many bytes."""

    def __init__(self, fs, room=None):
        self._fs, self._room, self.opened = fs, room, []

    def open_output_stream(self, path, *args, **kwargs):
        self.opened.append(path)
        stream = self._fs.open_output_stream(path, *args, **kwargs)
        return stream if self._room is None else _DiskFillsUp(stream, self._room)

    def __getattr__(self, name):
        return getattr(self._fs, name)


def test_a_write_goes_to_a_dot_file_beside_the_final_one_then_is_renamed(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    store.fs = _FillingFileSystem(store.fs)
    final = store.write("epochs", [row(0, 2.0)], epoch=0)
    [opened] = store.fs.opened
    # Same directory: a rename there is atomic; a dot-name: readers skip it meanwhile.
    assert posixpath.dirname(opened) == posixpath.dirname(final)
    assert posixpath.basename(opened).startswith(".") and opened != final
    metrics = tmp_path / "r" / "metrics"
    assert sorted(p.name for p in metrics.iterdir()) == ["epochs-e0000.parquet"]
    # A fresh store: pyarrow's reader wants a real FileSystem, not the recording wrapper.
    assert MetricsStore(str(tmp_path), "r").read("epochs").column("loss").to_pylist() == [2.0]


def test_a_write_failing_halfway_keeps_the_last_good_file_and_leaves_no_partial_one(tmp_path):
    store = MetricsStore(str(tmp_path), "r")
    store.write("epochs", [row(1, 1.5)], epoch=1)
    good = (tmp_path / "r" / "metrics" / "epochs-e0001.parquet").read_bytes()
    # A restart redoing epoch 1 runs out of disk 100 bytes into the new file.
    store.fs = _FillingFileSystem(store.fs, room=100)
    with pytest.raises(OSError, match="No space left"):
        store.write("epochs", [row(1, 1.4)], epoch=1)
    assert store.fs.opened, "the failure must come after the output file was opened"
    metrics = tmp_path / "r" / "metrics"
    assert sorted(p.name for p in metrics.iterdir()) == ["epochs-e0001.parquet"]
    assert (metrics / "epochs-e0001.parquet").read_bytes() == good
    assert MetricsStore(str(tmp_path), "r").read("epochs").column("loss").to_pylist() == [1.5]
