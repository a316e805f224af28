"""Phases of a run's wall time: summed per name in first-run order; Ray Train's share is
what its fit took beyond rank 0's phases."""

import pytest

from lib.phases import RAY_TRAIN, Phases, take_worker_phases, write_worker_phases
from lib.report.views import phase_table


def test_phases_add_up_in_the_order_they_first_ran(tmp_path):
    phases = Phases()
    phases.add("preflight", 2.0)
    phases.add("Ray start", 1.5)
    phases.add("preflight", 0.5)
    (tmp_path / "r" / "logs").mkdir(parents=True)
    write_worker_phases(str(tmp_path), "r", {"worker set-up": 4.0, "training steps": 3.0})
    phases.fold_in_workers(10.0, take_worker_phases(str(tmp_path), "r"))
    assert phases.seconds == {"preflight": 2.5, "Ray start": 1.5, "worker set-up": 4.0,
                              "training steps": 3.0, RAY_TRAIN: 3.0}
    assert take_worker_phases(str(tmp_path), "r") == {}  # taken once: a resume starts clean
    with phases.timed("preflight"):
        pass
    assert list(phases.seconds)[0] == "preflight" and phases.seconds["preflight"] >= 2.5


def test_the_report_shows_each_phase_and_the_rest_of_the_wall():
    table = phase_table({"preflight": 3.0, "training steps": 5.0}, wall=10.0)
    assert table.rows == [["preflight", "3.0", "30%"], ["training steps", "5.0", "50%"],
                          ["other (driver: config, log, run record)", "2.0", "20%"]]
    assert phase_table({"a": 1.0}, wall=None).rows == [["a", "1.0", "100%"]]


@pytest.mark.parametrize("fit", [2.0, 1.0])
def test_ray_trains_share_is_never_negative(fit):
    phases = Phases()
    phases.fold_in_workers(fit, {"training steps": 2.0})
    assert phases.seconds[RAY_TRAIN] == 0.0
