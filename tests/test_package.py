"""raydapt installed from its wheel, away from the checkout: the jobs run, submit finds its
runtime environment in the package, and the run record names no commit.

The wheel goes into a fresh venv with --no-deps; the dependencies come from this venv's
site-packages through a path file (a line in a .pth adds a directory, it does not run
the editable install's import hook), so the test needs no download of TensorFlow."""

import json
import shutil
import subprocess
import sys
import sysconfig

import pytest

from lib.metrics.store import MetricsStore
from tests.conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("package")
    source = root / "source"  # a copy: an in-tree build would leave build/ in the checkout
    for name in ("jobs", "lib"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(root / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (root / "dist").glob("raydapt-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(source)
    return venv, site, root


def run(venv, *args, cwd, timeout=120):
    return subprocess.run([str(venv / "bin" / "raydapt"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_help_and_submits_environment_come_from_the_package(installed, tmp_path):
    venv, site, _ = installed
    for args in (["--help"], ["submit", "--help"], ["adapt", "--help"]):
        result = run(venv, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert "--install" in run(venv, "submit", "--help", cwd=tmp_path).stdout
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import json, lib; from lib.cluster.environment import runtime_env; "
         "print(json.dumps({'lib': lib.__file__, 'env': runtime_env(install=True)}))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(probe.stdout)
    assert found["lib"].startswith(str(site))  # the wheel's copy, not the checkout's
    env = found["env"]
    assert "working_dir" not in env
    assert sorted(env["py_modules"]) == [str(site / "jobs"), str(site / "lib")]
    assert env["env_vars"]["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert any(d.startswith("tensorflow") for d in env["pip"])


@pytest.mark.slow
def test_a_tiny_job_runs_from_another_directory(installed, small_folder, tmp_path):
    venv, _, _ = installed
    result = run(venv, "finetune", "--source", f"folder:{small_folder}", "--val",
                 f"folder:{small_folder}", "--limit-per-class", "2", "--epochs", "1",
                 "--batch-size", "4", "--weights", "none", "--feature-layer", "block1_pool",
                 "--run-name", "installed", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = MetricsStore(str(tmp_path / "runs"), "installed").read("runs").to_pylist()
    assert record["status"] == "completed" and record["git_commit"] is None
    assert json.loads(record["versions_json"])["raydapt"] == "0.1.0"
