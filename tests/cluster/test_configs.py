"""cluster/ as a user would meet it: every file parses, every job command in it would
start (checked by the job's own CLI), and the resources it asks for fit the cluster it
describes."""

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from lib.cluster.entrypoint import parse_command_line, parse_job_args
from tests.conftest import REPO

CLUSTER = REPO / "cluster"
LAUNCHER = CLUSTER / "aws" / "gpu-2x4-aws.yaml"
RAYJOB = CLUSTER / "k8s" / "rayjob-adapt-gpu-2x4.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def shape(path: Path) -> tuple[int, int]:
    """(nodes, GPUs per node) from a name like gpu-2x4-aws.yaml."""
    nodes, gpus = re.search(r"gpu-(\d+)x(\d+)", path.name).groups()
    return int(nodes), int(gpus)


def job_commands(path: Path) -> list[tuple[str, object]]:
    """(job, config) of every `raydapt submit ... JOB ...` in a shell script."""
    text = path.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("raydapt submit "):
            words = shlex.split(line)[2:]
            while words[0].startswith("--"):  # submit's own options come before JOB
                words = words[1:] if words[0] in ("--wait", "--no-wait", "--install") \
                    else words[2:]
            found.append((words[0], parse_job_args(words[0], words[1:])))
    return found


def test_every_yaml_parses():
    files = sorted(CLUSTER.rglob("*.yaml"))
    assert len(files) == 3
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_launcher_config_passes_rays_own_checks():
    # What `ray up` does before launching anything: fill defaults, check the schema.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(yaml.safe_load(LAUNCHER.read_text())))


def test_launcher_job_fits_the_launched_cluster():
    cluster = yaml.safe_load(LAUNCHER.read_text())
    nodes, gpus = shape(LAUNCHER)
    worker = cluster["available_node_types"]["gpu_worker"]
    assert (worker["max_workers"], worker["resources"]["GPU"]) == (nodes, gpus)
    jobs = dict(job_commands(CLUSTER / "aws" / "submit-adapt.sh"))
    assert set(jobs) == {"prepare", "adapt"}
    scaling = jobs["adapt"].scaling
    assert scaling.workers * scaling.gpus_per_worker == nodes * gpus  # the whole cluster
    assert scaling.gpus_per_worker <= gpus  # a Ray Train worker lives on one node
    assert scaling.cpus_per_worker <= worker["resources"]["CPU"]
    # The project goes to every node and its extras exist.
    assert cluster["file_mounts"]["~/raydapt"] == "."
    extras = re.search(r"\.\[([\w,-]+)\]", " ".join(cluster["setup_commands"])).group(1)
    assert set(extras.split(",")) <= set(PYPROJECT["project"]["optional-dependencies"])
    starts = " ".join(cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"])
    assert starts.count("RAY_AUTH_MODE=token") == 2 and "--dashboard-host=127.0.0.1" in starts


def test_rayjob_entrypoint_is_a_valid_job_that_fits_its_cluster():
    manifest = yaml.safe_load(RAYJOB.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayJob")
    spec = manifest["spec"]
    job, config = parse_command_line(spec["entrypoint"])
    assert job == "adapt"
    (group,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    (container,) = group["template"]["spec"]["containers"]
    limits = container["resources"]["limits"]
    nodes, gpus = shape(RAYJOB)
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == nodes
    assert int(limits["nvidia.com/gpu"]) == gpus
    scaling = config.scaling
    assert scaling.workers * scaling.gpus_per_worker == nodes * gpus
    assert scaling.gpus_per_worker <= gpus and scaling.cpus_per_worker <= int(limits["cpu"])
    # Ray Train needs storage every pod sees; the job must finish and clean up.
    assert config.run.storage.startswith("s3://")
    assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] >= 1
    assert spec["rayClusterSpec"]["authOptions"] == {"mode": "token"}


def test_one_runtime_environment_and_one_ray_version():
    runtime_env = yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())
    assert {"runs/", ".venv/", ".git/", "data/"} <= set(runtime_env["excludes"])
    rayjob = yaml.safe_load(RAYJOB.read_text())["spec"]
    assert yaml.safe_load(rayjob["runtimeEnvYAML"])["env_vars"] == runtime_env["env_vars"]
    pinned = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("ray["))
    minor = re.search(r"~=(\d+\.\d+)", pinned).group(1)
    assert rayjob["rayClusterSpec"]["rayVersion"].startswith(minor)
    dockerfile = (CLUSTER / "k8s" / "Dockerfile").read_text()
    assert f"rayproject/ray:{minor}." in dockerfile
    images = {c["image"] for part in (rayjob["rayClusterSpec"]["headGroupSpec"],
                                      *rayjob["rayClusterSpec"]["workerGroupSpecs"])
              for c in part["template"]["spec"]["containers"]}
    assert len(images) == 1  # head and workers run the same code


def test_dockerfile_copies_what_exists_and_installs_real_extras():
    text = (CLUSTER / "k8s" / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY"):
            for source in shlex.split(line)[1:-1]:
                if not source.startswith("--"):
                    assert (REPO / source).exists(), source
    extras = re.search(r"\.\[([\w,-]+)\]", text).group(1)
    assert set(extras.split(",")) <= set(PYPROJECT["project"]["optional-dependencies"])


@pytest.mark.parametrize("script", ["start-head.sh", "stop-head.sh"])
def test_local_scripts_have_help_and_refuse_unknown_options(script):
    import subprocess

    path = CLUSTER / "local" / script
    assert subprocess.run([path, "--help"], capture_output=True, text=True).returncode == 0
    bad = subprocess.run([path, "--nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option --nope" in bad.stderr
