"""What a submitted job runs in, and with which credentials.

The runtime environment is cluster/runtime_env.yaml, the one file `ray job submit
--runtime-env` and the KubeRay manifests use too; the token is found where Ray itself
looks, in Ray's order.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from lib.errors import NoInputError

PROJECT = Path(__file__).resolve().parents[2]
RUNTIME_ENV_FILE = PROJECT / "cluster" / "runtime_env.yaml"


def project_dependencies(pyproject: Path = PROJECT / "pyproject.toml") -> list[str]:
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def runtime_env(install: bool, path: Path = RUNTIME_ENV_FILE) -> dict:
    """The runtime environment for a submission: working_dir made absolute (relative to
    the project root, which holds cluster/), and with `install` the project's own
    dependencies as a pip section."""
    import yaml

    if not path.is_file():
        raise NoInputError(f"{path} not found: raydapt submit runs from a checkout of the "
                           f"project, whose directory it uploads")
    env = yaml.safe_load(path.read_text())
    env["working_dir"] = str((path.parent.parent / env["working_dir"]).resolve())
    if install:
        env["pip"] = project_dependencies(path.parent.parent / "pyproject.toml")
    return env


def auth_headers() -> dict[str, str]:
    """The bearer token for the job API, from RAY_AUTH_TOKEN, else the file
    RAY_AUTH_TOKEN_PATH names, else ~/.ray/auth_token (Ray's order); none if absent, and
    a cluster with token auth then refuses the request, which is reported."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        named = os.environ.get("RAY_AUTH_TOKEN_PATH")
        path = Path(named) if named else Path.home() / ".ray" / "auth_token"
        if named and not path.is_file():
            raise NoInputError(f"RAY_AUTH_TOKEN_PATH={named}: no such file")
        token = path.read_text().strip() if path.is_file() else ""
    return {"Authorization": f"Bearer {token}"} if token else {}
