"""A sweep's spec: every grid point a run with a readable name, checked by the job's own
CLI before anything starts; a bad value anywhere is one line naming its point."""

import subprocess
import sys

import pytest

from lib.errors import UsageError
from lib.sweep.spec import load_spec, point_name
from tests.conftest import REPO

SPEC = """
job = "adapt"
name = "t"
[options]
target = "folder:/data/train"
epochs = 2
feature-cache = false
method-opt = ["lambda-max=0.5"]
storage = "{storage}"
[grid]
method = ["dann", "cdan"]
seed = [0, 1, 2]
"""


def write(tmp_path, text, **fields):
    path = tmp_path / "s.toml"
    path.write_text(text.format(storage=tmp_path / "runs", **fields))
    return str(path)


def test_every_grid_point_is_a_run_named_by_its_values(tmp_path):
    spec = load_spec(write(tmp_path, SPEC))
    assert spec.job == "adapt" and len(spec.points) == 6
    assert [p.name for p in spec.points[:2]] == ["t-method=dann-seed=0", "t-method=dann-seed=1"]
    last = spec.points[-1]
    assert (last.config.adapt.method, last.config.data.seed) == ("cdan", 2)
    assert last.config.run.run_name == last.name and last.config.optim.epochs == 2
    assert last.config.model.feature_cache is False  # a false switch is --no-...
    assert last.config.adapt.method_opt == ["lambda-max=0.5"]  # a list repeats its option
    assert point_name("t", {"target-shift": "fog@4", "x": "a/b c"}) == "t-target-shift=fog@4-x=a_b_c"


@pytest.mark.parametrize(("change", "message"), [
    ('seed = [0, "x"]', r"grid point method=dann, seed=x: adapt: .*--seed"),
    ('seed = [0]\nmethod-opt = ["nope=1"]', r"grid point .*nope"),
    ('seed = []', r"\[grid\] needs at least one option"),
    ('seed = [0]\nrun-name = ["a"]', r"--run-name is the sweep's"),
])
def test_a_bad_value_anywhere_fails_the_whole_sweep_naming_its_point(tmp_path, change,
                                                                     message):
    text = SPEC.replace('seed = [0, 1, 2]', change).replace('method = ["dann", "cdan"]',
                                                            'method = ["dann"]')
    with pytest.raises(UsageError, match=message):
        load_spec(write(tmp_path, text))


def test_the_cli_refuses_a_bad_spec_with_one_line_exit_2_and_writes_nothing(tmp_path):
    path = write(tmp_path, SPEC.replace('seed = [0, 1, 2]', 'seed = [0, "x"]'))
    done = subprocess.run([sys.executable, "-m", "jobs.sweep", path], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "grid point" in lines[0], done.stderr
    assert not (tmp_path / "runs").exists()
    dry = subprocess.run([sys.executable, "-m", "jobs.sweep", write(tmp_path, SPEC), "--dry-run"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "t-method=cdan-seed=2  new" in dry.stdout and "6 runs, 6 to run" in dry.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_the_shipped_specs_are_valid_and_name_their_runs(path):
    # The docs reproduce their tables with these: a spec the CLI no longer takes, or
    # whose run names changed, would leave the docs' commands broken.
    spec = load_spec(str(path))
    assert spec.job == "adapt" and len({p.name for p in spec.points}) == len(spec.points)
    assert all(p.name.startswith(spec.name + "-") for p in spec.points)
    table = {"adapt-table.toml": 120, "adapt-block4.toml": 8}
    assert len(spec.points) == table[path.name]
