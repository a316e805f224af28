"""The prepare job from the outside: entry points, exit codes, one-line errors, no output."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.conftest import REPO


def run(*args, entry=("-m", "jobs.prepare")):
    return subprocess.run([sys.executable, *entry, *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


CONSOLE_SCRIPT = str(Path(sys.executable).parent / "raydapt")


@pytest.mark.parametrize("entry", [[CONSOLE_SCRIPT, "prepare"], [sys.executable, "-m", "jobs.prepare"],
                                   [sys.executable, "-m", "typer", "jobs", "run", "prepare"]])
def test_every_entry_point_has_help(entry):
    result = subprocess.run([*entry, "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--source", "--out", "--target-shift", "--limit-per-class", "--seed"):
        assert option in result.stdout


def test_every_job_and_submit_run_as_python_m_jobs():
    from lib.jobs_table import JOBS

    for name in [*JOBS, "submit"]:
        assert (REPO / "jobs" / f"{name}.py").is_file(), name
    assert_fails(run("train", "--help", entry=("-m", "jobs")), 2, "No such command")


def assert_fails(result, code, *fragments, out=None):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    if out is not None:
        assert not out.exists(), "bad input must not write anything"


def test_missing_path(tmp_path):
    out = tmp_path / "out"
    assert_fails(run("--source", f"folder:{tmp_path}/nope", "--out", out), 66, "nope", out=out)


def test_empty_folder_and_empty_class_folder(tmp_path, small_folder):
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    assert_fails(run("--source", f"folder:{tmp_path}/empty", "--out", out), 66, "empty", out=out)
    for f in (small_folder / "horse").iterdir():
        f.unlink()
    assert_fails(run("--source", f"folder:{small_folder}", "--out", out), 66, "horse", out=out)


def test_undecodable_image(tmp_path, small_folder):
    out = tmp_path / "out"
    bad = small_folder / "ship/0001.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    assert_fails(run("--source", f"folder:{small_folder}", "--out", out), 65, "ship/0001.jpg",
                 "undecodable", out=out)


@pytest.mark.parametrize("damage", ["grayscale", "28x28"])
def test_wrongly_shaped_image(tmp_path, small_folder, damage):
    out = tmp_path / "out"
    path = small_folder / "deer/0002.jpg"
    image = Image.open(path)
    image = image.convert("L") if damage == "grayscale" else image.resize((28, 28))
    image.save(path)
    assert_fails(run("--source", f"folder:{small_folder}", "--out", out), 65, "deer/0002.jpg",
                 "expected 32x32 RGB", out=out)


def test_label_out_of_range_and_foreign_file_in_parquet(tmp_path, small_folder):
    prepared = tmp_path / "prepared"
    assert run("--source", f"folder:{small_folder}", "--out", prepared).returncode == 0
    (path,) = (prepared / "data").glob("*.parquet")
    table = pq.read_table(path)
    labels = table.column("label").to_numpy().copy()
    labels[0] = 12
    pq.write_table(table.set_column(1, "label", pa.array(labels, pa.int16())), path)
    out = tmp_path / "out"
    assert_fails(run("--source", f"parquet:{prepared}", "--out", out), 65,
                 "label out of range", "airplane/0000.jpg", out=out)
    (prepared / "data/part.csv").write_text("a,b\n")
    assert_fails(run("--source", f"parquet:{prepared}", "--out", out), 65,
                 "not a Parquet file", "part.csv", out=out)


def test_unknown_class(tmp_path, small_folder):
    out = tmp_path / "out"
    assert_fails(run("--source", f"folder:{small_folder}", "--classes", "cat,monkey",
                     "--out", out), 65, "monkey", out=out)


@pytest.mark.parametrize("args,fragment", [
    (["--source", "mnist:/x"], "unknown dataset URI"),
    (["--source", "folder:x", "--target-shift", "snow@2"], "unknown shift 'snow'"),
    (["--source", "folder:x", "--target-shift", "fog@6"], "severity must be an integer 1-5"),
    (["--source", "folder:x", "--limit-per-class", "0"], "--limit-per-class"),
    (["--source", "folder:x", "--workers", "2"], "No such option: --workers"),
    ([], "Missing option '--source'"),
])
def test_bad_usage(tmp_path, args, fragment):
    out = tmp_path / "out"
    assert_fails(run(*args, "--out", out), 2, fragment, out=out)


def test_different_inputs_into_a_used_out(tmp_path, small_folder):
    out = tmp_path / "out"
    assert run("--source", f"folder:{small_folder}", "--out", out).returncode == 0
    result = run("--source", f"folder:{small_folder}", "--limit-per-class", "1", "--out", out)
    assert_fails(result, 73, "--overwrite")
    again = run("--source", f"folder:{small_folder}", "--out", out)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_a_corrupt_manifest_is_named_and_overwrite_replaces_it(tmp_path, small_folder):
    out = tmp_path / "out"
    assert run("--source", f"folder:{small_folder}", "--out", out).returncode == 0
    (out / "manifest.json").write_text('{"schema_version": 1, "class_na')  # cut short
    elsewhere = tmp_path / "elsewhere"
    assert_fails(run("--source", f"parquet:{out}", "--out", elsewhere), 65,
                 f"{out}/manifest.json is corrupt: not JSON", out=elsewhere)
    assert_fails(run("--source", f"folder:{small_folder}", "--out", out), 65,
                 f"{out}/manifest.json is corrupt")
    (out / "manifest.json").write_text('["a list"]')
    assert_fails(run("--source", f"parquet:{out}", "--out", elsewhere), 65,
                 "is corrupt: a JSON list, not an object", out=elsewhere)
    replaced = run("--source", f"folder:{small_folder}", "--out", out, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((out / "manifest.json").read_text())["num_rows"] == 40
