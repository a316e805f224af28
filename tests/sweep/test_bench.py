"""The bench's sweep part: both sides run the same runs, and it measures them."""

from dataclasses import replace

import pytest

from lib.cluster.entrypoint import parse_job_args
from lib.metrics.store import MetricsStore
from lib.sweep.bench import GRID, command_lines, shared_options, spec_text, sweep_against_commands
from lib.sweep.spec import load_spec


def test_the_commands_are_the_sweeps_runs(tmp_path):
    # Two descriptions of one grid: if they drift, the bench compares different work.
    options = shared_options("folder:/data/train", 300, 5, str(tmp_path / "runs"))
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text("s", options, GRID))
    points = load_spec(str(spec)).points
    commands = command_lines(options, GRID, "c")
    assert len(points) == len(commands) == 12
    for i, (point, command) in enumerate(zip(points, commands)):
        assert command[1:3] == ["-m", "jobs.adapt"]
        config = parse_job_args("adapt", command[3:])
        assert config.run.run_name == f"c-{i}"
        assert config == replace(point.config, run=config.run), (point.name, command)


@pytest.mark.slow
def test_one_run_each_way_is_timed_after_a_warm_up_extracts_its_features(cifar_jpeg,
                                                                        tmp_path):
    grid = {"method": ["source-only"], "target-shift": ["fog@4"], "seed": [0]}
    sweep, commands = sweep_against_commands(f"folder:{cifar_jpeg}/train", 4, 2,
                                             str(tmp_path), "b", grid)
    assert sweep.name == "sweep: 1 adapt runs as one raydapt sweep"
    assert f"{sweep.seconds / commands.seconds:.2f}x the commands' wall" in sweep.note
    for run, epochs in (("b-warm-method=source-only-target-shift=fog@4-seed=0", 1),
                        ("b-command-0", 2),
                        ("b-sweep-method=source-only-target-shift=fog@4-seed=0", 2)):
        (record,) = MetricsStore(str(tmp_path), run).read("runs").to_pylist()
        assert (record["status"], record["epochs_done"]) == ("completed", epochs), run
    # The timed runs read what the warm-up extracted: one entry per dataset, no more.
    entries = [p for p in (tmp_path / "feature-cache").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 4, entries
