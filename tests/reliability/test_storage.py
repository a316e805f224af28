"""Storage that cannot be written fails the job before training starts, in one line."""

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only file system (root ignores permission bits, so chmod would not do)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "runs").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount / "runs"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_read_only_storage_is_refused_before_ray_starts(cifar_jpeg, read_only_dir):
    result = subprocess.run(
        [sys.executable, "-m", "jobs.adapt", "--source", f"folder:{cifar_jpeg}/train",
         "--target", f"folder:{cifar_jpeg}/train", "--limit-per-class", "4",
         "--source-val", f"folder:{cifar_jpeg}/test", "--eval-limit-per-class", "2",
         "--weights", "hed", "--batch-size", "4", "--storage", str(read_only_dir),
         "--run-name", "r"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 73, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"error: --storage {read_only_dir}: cannot write the run there (Read-only file system)"]
    assert "Ray" not in result.stdout + result.stderr  # refused before Ray started
