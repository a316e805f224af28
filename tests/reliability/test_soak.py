"""Load: 2-worker adapt runs back to back on one local head leave nothing behind: the
second adds no live actor, process or memory to what the first left. The first is sent
with `ray job submit --working-dir .`, the second with `raydapt submit`: both routes a
user has, on the same head (tests/cluster/test_e2e.py covers the rest of the cluster path)."""

import json
import time

import pytest

from tests.cluster.head import ADDRESS, BIN, local_head, run, tiny_adapt
from tests.reliability.figures import report_figures

pytestmark = pytest.mark.slow
# Ray Data's cluster-wide helpers: detached, made by the first job that uses Ray Data and
# shared by every later one. Anything else alive after a job would be the job's leak.
RAY_DATA_SINGLETONS = {"_StatsActor", "_AutoscalingCoordinatorActor", "ActorLocationTracker"}


def alive_actors(head) -> list[str]:
    listed = run(["ray", "list", "actors", "--address", ADDRESS, "--filter", "state=ALIVE",
                  "--format", "json", "--limit", "1000"], head.env())
    assert listed.returncode == 0, listed.stderr[-2000:]
    return [a["class_name"] for a in json.loads(listed.stdout)]


def submit(i: int, head, cifar_jpeg):
    args = tiny_adapt(cifar_jpeg, head.storage, f"soak-{i}")
    if i == 0:
        return run(["ray", "job", "submit", "--address", ADDRESS, "--working-dir", ".",
                    "--runtime-env", "cluster/runtime_env.yaml", "--", "python", "-m",
                    "jobs.adapt", *args], head.env())
    result = run([BIN / "raydapt", "submit", "--address", ADDRESS, "adapt", *args], head.env())
    assert "succeeded" in result.stderr and f"soak-{i}: dann" in result.stdout, result.stderr
    return result


def test_runs_sent_both_ways_back_to_back_leak_nothing(cifar_jpeg, capsys):
    after = []
    with local_head() as head:
        for i in range(2):
            started = time.monotonic()
            result = submit(i, head, cifar_jpeg)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            seconds = time.monotonic() - started
            time.sleep(10)  # Ray reaps a finished job's actors and workers asynchronously
            processes = head.processes()
            after.append({"seconds": round(seconds, 1), "actors": alive_actors(head),
                          "processes": len(processes),
                          "rss_mib": round(sum(p.memory_info().rss for p in processes)
                                           / 2**20)})
        report = run([BIN / "raydapt", "report", head.storage, "--format", "json"],
                     head.env())
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    assert sorted(r["run"] for r in rows) == ["soak-0", "soak-1"]
    for row in rows:
        assert (row["status"], row["epochs"], row["workers"]) == ("completed", 2, 2)
        assert row["target_accuracy"] is not None
    assert set(after[0]["actors"]) <= RAY_DATA_SINGLETONS, after[0]
    for state in after:
        assert sorted(state["actors"]) == sorted(after[0]["actors"]), state  # none added
    assert after[1]["processes"] <= after[0]["processes"], after
    assert after[1]["rss_mib"] <= 1.10 * after[0]["rss_mib"], after
    report_figures(capsys, "2 back-to-back 2-worker adapt runs on one head",
                   seconds_per_run=[a["seconds"] for a in after],
                   head_processes_after_each=[a["processes"] for a in after],
                   head_rss_mib_after_each=[a["rss_mib"] for a in after],
                   live_actors_after_each=[len(a["actors"]) for a in after])
