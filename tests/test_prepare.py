import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lib.config import DataConfig, PrepareConfig
from lib.data.shifts import Shift
from lib.errors import OutputError
from lib.prepare import prepare


def read_rows(out):
    table = pq.ParquetDataset(sorted((out / "data").glob("*.parquet"))).read().sort_by("example_id")
    return table.to_pylist()


def test_thousand_rows_equal_a_direct_decode_and_rerun_is_a_noop(cifar_jpeg, tmp_path, ray_local,
                                                                  capsys):
    out = tmp_path / "p"
    config = PrepareConfig(source=f"folder:{cifar_jpeg}/train", out=str(out),
                           data=DataConfig(limit_per_class=100))
    manifest = prepare(config)
    rows = read_rows(out)
    assert len(rows) == 1000 == manifest["num_rows"]
    assert manifest["counts_per_class"] == dict.fromkeys(manifest["class_names"], 100)
    assert manifest["image_shape"] == [32, 32, 3]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    for row in rows:
        expected = np.asarray(Image.open(cifar_jpeg / "train" / row["example_id"]))
        assert np.frombuffer(row["image"], np.uint8).reshape(32, 32, 3).tobytes() == \
            expected.tobytes(), row["example_id"]
        assert manifest["class_names"][row["label"]] == row["class_name"]
    assert [r["example_id"] for r in rows[:2]] == ["airplane/0000.jpg", "airplane/0001.jpg"]

    files_before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    capsys.readouterr()
    assert prepare(config) == manifest
    assert "up to date" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == files_before


def test_different_inputs_need_overwrite(small_folder, tmp_path, ray_local):
    out = tmp_path / "p"
    prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(out)))
    changed = PrepareConfig(source=f"folder:{small_folder}", out=str(out),
                            data=DataConfig(limit_per_class=2))
    with pytest.raises(OutputError, match="already holds a different dataset"):
        prepare(changed)
    assert len(read_rows(out)) == 40
    manifest = prepare(PrepareConfig(source=changed.source, out=changed.out, overwrite=True,
                                     data=changed.data))
    assert len(read_rows(out)) == 20 == manifest["num_rows"]
    assert not list(out.rglob(".*")), "staging or temp files left behind"


def test_target_shift_is_applied_and_recorded(small_folder, tmp_path, ray_local):
    out = tmp_path / "fog"
    manifest = prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(out),
                                     target_shift="fog@4",
                                     data=DataConfig(seed=5, limit_per_class=1)))
    assert manifest["target_shift"] == "fog@4"
    rows = read_rows(out)
    ids = [r["example_id"] for r in rows]
    clean = np.stack([np.asarray(Image.open(small_folder / i)) for i in ids])
    got = np.stack([np.frombuffer(r["image"], np.uint8).reshape(32, 32, 3) for r in rows])
    np.testing.assert_array_equal(got, Shift("fog", 4).apply(clean, ids, seed=5))


def test_parquet_round_trip_keeps_the_checksum(small_folder, tmp_path, ray_local):
    first = prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(tmp_path / "a"),
                                  rows_per_file=7))
    assert len(first["files"]) == 6
    again = prepare(PrepareConfig(source=f"parquet:{tmp_path / 'a'}", out=str(tmp_path / "b")))
    assert again["content_checksum"] == first["content_checksum"]
    assert again["class_names"] == first["class_names"]


def test_stl10_source_with_shared_classes(tmp_path, ray_local):
    from tests.data.test_sources import write_stl10

    rng = np.random.default_rng(1)
    write_stl10(tmp_path / "stl", rng.integers(0, 256, (20, 96, 96, 3), dtype=np.uint8),
                np.tile(np.arange(1, 11), 2))
    manifest = prepare(PrepareConfig(source=f"stl10:{tmp_path / 'stl'}", out=str(tmp_path / "o")))
    assert manifest["num_rows"] == 18 and manifest["image_shape"] == [32, 32, 3]
    assert "frog" not in manifest["class_names"]



def test_bad_input_leaves_out_as_it_was(small_folder, tmp_path, ray_local):
    from lib.errors import DataError

    (small_folder / "dog/0001.jpg").write_bytes(b"")
    out = tmp_path / "used"
    (out / "logs").mkdir(parents=True)
    (out / "logs/driver.log").write_text("an earlier attempt\n")
    (out / "notes").write_text("mine")
    with pytest.raises(DataError, match="dog/0001.jpg: empty file"):
        prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(out), overwrite=True))
    assert (out / "logs/driver.log").read_text() == "an earlier attempt\n"
    assert sorted(p.name for p in out.iterdir()) == ["logs", "notes"]
    with pytest.raises(DataError):
        prepare(PrepareConfig(source=f"folder:{small_folder}", out=str(tmp_path / "new/out")))
    assert not (tmp_path / "new").exists()

@pytest.mark.slow
def test_a_folder_is_decoded_on_every_node_of_a_cluster(cifar_jpeg, tmp_path):
    # 6,000 files are three decode tasks; Ray Data spreads tasks over the nodes.
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "prepared"
    done = subprocess.run([sys.executable, "-m", "tests.two_nodes", "2", sys.executable, "-m",
                           "jobs.prepare", "--source", f"folder:{cifar_jpeg}/train",
                           "--limit-per-class", "600", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["returncode"] == 0, result["stdout"][-3000:] + result["stderr"]
    decoding = [set(nodes) for name, nodes in result["task_nodes"].items()
                if "decode_batch" in name]
    assert decoding and set().union(*decoding) == set(result["nodes"]), result["task_nodes"]
    assert len(result["nodes"]) == 2
    assert json.loads((out / "manifest.json").read_text())["num_rows"] == 6000
