"""A real Ray head for tests, started and stopped by the project's own scripts
(cluster/local), on loopback with token auth and ports of its own, and the environment
a client of it needs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent
# Not Ray's defaults: another Ray on this machine (the tests' own) must not collide.
PORT, DASHBOARD_PORT, AGENT_PORTS = 6391, 8391, 52500
ADDRESS = f"http://127.0.0.1:{DASHBOARD_PORT}"


@dataclass
class Head:
    token_file: Path
    storage: Path
    home: Path  # an empty HOME for clients, so the machine's own ~/.ray/auth_token is not read
    temp_dir: Path

    def env(self, token: str | None = "file") -> dict:
        """A client's environment: the cluster's token (from its file), a given token
        string, or none at all."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
        env |= {"PATH": f"{BIN}:{env['PATH']}", "HOME": str(self.home)}
        if token == "file":
            env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_file)}
        elif token is not None:
            env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        return env

    def processes(self):
        """The head's processes: those naming its temp dir, and their descendants."""
        import psutil

        roots = [p for p in psutil.process_iter(["cmdline"])
                 if any(f"{self.temp_dir}/" in part for part in p.info["cmdline"] or [])]
        found = {p.pid: p for p in roots}
        for p in roots:
            with contextlib.suppress(psutil.Error):
                found |= {c.pid: c for c in p.children(recursive=True)}
        return list(found.values())


def run(args, env, timeout=600):
    return subprocess.run([str(a) for a in args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@contextlib.contextmanager
def local_head(cpus: int = 4):
    # Short: Ray's socket paths under the temp dir must stay below 107 characters.
    root = Path(tempfile.mkdtemp(prefix="rdh", dir="/tmp"))
    head = Head(root / "token", root / "runs", root / "home", root / "ray")
    head.home.mkdir()
    env = head.env(token=None)
    started = run([REPO / "cluster/local/start-head.sh", "--cpus", cpus, "--port", PORT,
                   "--dashboard-port", DASHBOARD_PORT, "--agent-ports", AGENT_PORTS,
                   "--temp-dir", head.temp_dir, "--token-file", head.token_file], env)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        assert head.token_file.stat().st_mode & 0o077 == 0  # the token is its owner's only
        yield head
    finally:
        stopped = run([REPO / "cluster/local/stop-head.sh", "--temp-dir", head.temp_dir,
                       "--grace", 5], env)
        left = subprocess.run(["pgrep", "-f", f"{head.temp_dir}/"], capture_output=True,
                              text=True)
        shutil.rmtree(root, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr
        assert not left.stdout.strip(), "head processes left after stop-head.sh"


def tiny_adapt(cifar_jpeg, storage, run_name, epochs=2, workers=2, limit=8, method="dann"):
    return ["--method", method, "--source", f"folder:{cifar_jpeg}/train",
            "--target", f"folder:{cifar_jpeg}/train",
            "--target-shift", "fog@4", "--source-val", f"folder:{cifar_jpeg}/test",
            "--target-test", f"folder:{cifar_jpeg}/test", "--limit-per-class", limit,
            "--eval-limit-per-class", 4, "--weights", "hed", "--feature-layer", "block4_pool",
            "--batch-size", 8, "--epochs", epochs, "--workers", workers,
            "--cpus-per-worker", 1, "--selection-samples", 30, "--embedding-samples", 10,
            "--storage", storage, "--run-name", run_name]
