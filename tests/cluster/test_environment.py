"""The runtime environment a submission carries, and where its token comes from."""

from pathlib import Path

import pytest

from lib.checkout import checkout
from lib.cluster.environment import (
    auth_headers,
    project_dependencies,
    runtime_env,
)
from lib.errors import NoInputError
from tests.conftest import REPO


def test_runtime_env_uploads_the_project_without_what_running_it_made():
    env = runtime_env(install=False)
    assert Path(env["working_dir"]) == REPO == checkout()
    assert {"runs/", ".venv/", ".git/", "*.parquet"} <= set(env["excludes"])
    assert env["env_vars"]["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert "pip" not in env


def test_install_adds_pyprojects_dependencies():
    env = runtime_env(install=True)
    assert env["pip"] == project_dependencies()
    assert any(d.startswith("tensorflow") for d in env["pip"])
    assert any(d.startswith("ray[") for d in env["pip"])


def test_a_missing_runtime_env_file_is_exit_66(tmp_path):
    with pytest.raises(NoInputError, match="runtime_env.yaml not found"):
        runtime_env(False, tmp_path / "cluster" / "runtime_env.yaml")


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_token_sources_in_rays_order(no_token, monkeypatch):
    assert auth_headers() == {}
    (no_token / ".ray").mkdir()
    (no_token / ".ray" / "auth_token").write_text("from-home\n")
    assert auth_headers() == {"Authorization": "Bearer from-home"}
    named = no_token / "token"
    named.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(named))
    assert auth_headers() == {"Authorization": "Bearer from-path"}
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert auth_headers() == {"Authorization": "Bearer from-env"}


def test_a_token_path_that_does_not_exist_is_an_error(no_token, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(no_token / "missing"))
    with pytest.raises(NoInputError, match="RAY_AUTH_TOKEN_PATH=.*missing: no such file"):
        auth_headers()
