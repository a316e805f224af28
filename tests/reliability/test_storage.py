"""Storage that cannot be written fails the job before training starts, in one line."""

import contextlib
import subprocess
import sys

import pytest

from lib.metrics.store import MetricsStore
from tests.conftest import REPO


@contextlib.contextmanager
def small_file_system(where, size: str):
    """A real file system of `size` (tmpfs): full or read-only on demand, which permission
    bits cannot fake for root."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        (where / "runs").mkdir()
        yield where / "runs"
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture
def read_only_dir(tmp_path):
    with small_file_system(tmp_path / "ro", "1m") as runs:
        subprocess.run(["mount", "-o", "remount,ro", str(runs.parent)], check=True)
        yield runs


def adapt(cifar_jpeg, storage, *extra):
    return subprocess.run(
        [sys.executable, "-m", "jobs.adapt", "--source", f"folder:{cifar_jpeg}/train",
         "--target", f"folder:{cifar_jpeg}/train", "--limit-per-class", "4",
         "--source-val", f"folder:{cifar_jpeg}/test", "--eval-limit-per-class", "2",
         "--weights", "hed", "--batch-size", "4", "--storage", str(storage),
         "--run-name", "r", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600)


def test_read_only_storage_is_refused_before_ray_starts(cifar_jpeg, read_only_dir):
    result = adapt(cifar_jpeg, read_only_dir)
    assert result.returncode == 73, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"error: --storage {read_only_dir}: cannot write the run there (Read-only file system)"]
    assert "Ray" not in result.stdout + result.stderr  # refused before Ray started


@pytest.mark.slow
def test_storage_that_fills_up_fails_the_run_at_the_first_write(cifar_jpeg, tmp_path):
    # 300 KB: the config, the run record and the cached features fit; the first epoch's
    # metrics and checkpoint do not.
    with small_file_system(tmp_path / "full", "300k") as storage:
        result = adapt(cifar_jpeg, storage, "--max-failures", "0")
        assert result.returncode == 73, result.stderr[-3000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [f"error: --storage {storage}: No space left on device "
                          f"(worker rank 0)"], result.stderr[-3000:]
        (record,) = MetricsStore(str(storage), "r").read("runs").to_pylist()
        assert record["status"] == "failed" and "No space left" in record["message"]
