"""What a submitted job runs in, and with which credentials.

The runtime environment is lib/cluster/runtime_env.yaml (package data; cluster/ links to
it), the one file `ray job submit --runtime-env` and the KubeRay manifests use too. From
a checkout the job gets the project directory; from an installed wheel, the installed
packages. The token is found where Ray itself looks, in Ray's order.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from lib.checkout import checkout, packages
from lib.errors import NoInputError

RUNTIME_ENV_FILE = Path(__file__).with_name("runtime_env.yaml")


def project_dependencies() -> list[str]:
    """The dependencies pyproject.toml declares: read from it in a checkout, from the
    installed distribution's metadata otherwise (the same list, written at build time)."""
    root = checkout()
    if root is not None:
        return list(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])
    from importlib.metadata import requires

    return [r for r in requires("raydapt") or [] if "extra ==" not in r]


def runtime_env(install: bool, path: Path = RUNTIME_ENV_FILE) -> dict:
    """The runtime environment for a submission: the checkout as working_dir (the file's
    `.` is the project root), or without one the installed `jobs` and `lib` packages as
    py_modules; with `install`, the project's dependencies as a pip section."""
    import yaml

    if not path.is_file():
        raise NoInputError(f"{path} not found: the raydapt installation is incomplete")
    env = yaml.safe_load(path.read_text())
    root = checkout()
    if root is not None:
        env["working_dir"] = str((root / env["working_dir"]).resolve())
    else:
        del env["working_dir"], env["excludes"]  # the excludes are the checkout's clutter
        env["py_modules"] = [str(package) for package in packages()]
    if install:
        env["pip"] = project_dependencies()
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
