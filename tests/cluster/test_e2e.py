"""The cluster path end to end: a real Ray head on loopback with token auth, started and
stopped by the project's own scripts; requests without the token, or with a wrong one,
refused; a job stopped with `raydapt job stop` recorded as stopped and resumed (an MDD
run: a method with networks of its own); a sweep sent with `ray job submit`. Jobs sent
both ways (`ray job submit`, `raydapt submit`) and read back by `raydapt report` are the
soak's runs (tests/reliability/test_soak.py), which need a head of their own."""

import time

import pyarrow.parquet as pq
import pytest

from lib.metrics.store import MetricsStore
from tests.cluster.head import ADDRESS, BIN, local_head, run, tiny_adapt
from tests.sweep.test_job import write_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def head():
    with local_head() as head:
        yield head


def submissions(head) -> list[str]:
    listed = run([BIN / "raydapt", "job", "list", "--address", ADDRESS], head.env())
    assert listed.returncode == 0, listed.stderr
    return [line.split()[0] for line in listed.stdout.splitlines()]


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_submissions_without_the_right_token_are_refused(head, token):
    before = submissions(head)
    refused = run(["ray", "job", "submit", "--address", ADDRESS, "--", "python", "-c", "1"],
                  head.env(token))
    assert refused.returncode != 0
    assert ("Missing authentication token" if token is None
            else "Invalid authentication token") in refused.stdout + refused.stderr
    ours = run([BIN / "raydapt", "submit", "--address", ADDRESS, "report", "/tmp"],
               head.env(token))
    assert ours.returncode == 77, ours.stderr
    assert f"error: {ADDRESS} refused the request" in ours.stderr
    assert submissions(head) == before  # nothing ran


def test_a_stopped_job_is_recorded_stopped_and_resumes(head, cifar_jpeg):
    # The stop comes after epoch 2. An epoch here is ~0.3 s (Ray Train's reports no longer
    # wait for a 2-second poll): 58 to spare are ~20 s, for the stop's own start-up.
    epochs = 60
    sent = run([BIN / "raydapt", "submit", "--address", ADDRESS, "--no-wait", "adapt",
                *tiny_adapt(cifar_jpeg, head.storage, "stopped", epochs=epochs, workers=1,
                            limit=20, method="mdd")], head.env())
    assert sent.returncode == 0, sent.stderr
    submission = sent.stdout.strip()
    metrics = head.storage / "stopped" / "metrics"
    deadline = time.monotonic() + 300
    while not (metrics / "epochs-e0001.parquet").exists():
        assert time.monotonic() < deadline, "no epoch finished in 300 s"
        time.sleep(0.5)
    stop = run([BIN / "raydapt", "job", "stop", submission, "--address", ADDRESS], head.env())
    assert stop.returncode == 0 and f"{submission}: STOPPED" in stop.stdout, stop.stderr
    status = run([BIN / "raydapt", "job", "status", submission, "--address", ADDRESS],
                 head.env())
    assert "STOPPED" in status.stdout
    logs = run([BIN / "raydapt", "job", "logs", submission, "--address", ADDRESS], head.env())
    assert "error: stopped by SIGTERM; continue with --resume stopped" in logs.stdout, \
        logs.stdout[-3000:]

    store = MetricsStore(str(head.storage), "stopped")
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "stopped", record["message"]
    done = len(store.read("epochs"))
    assert 2 <= done < epochs
    for path in metrics.glob("*.parquet"):  # every file a reader can see is whole
        pq.read_table(path)

    resumed = run([BIN / "raydapt", "submit", "--address", ADDRESS, "adapt",
                   "--storage", head.storage, "--resume", "stopped"], head.env())
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    # What `raydapt submit` follows is the job's log: the driver's own lines, the same as a
    # local run's; the workers' output went to the run's driver.log on the cluster.
    followed = resumed.stdout.splitlines()
    assert f"epoch {epochs}/{epochs}" in resumed.stdout, resumed.stdout[-3000:]
    assert not [line for line in followed if "pid=" in line or "Checkpoint" in line], \
        resumed.stdout[-3000:]
    assert len(followed) <= (epochs - done) + 20, resumed.stdout[-3000:]  # a line an epoch
    assert "RayTrainWorker" in (head.storage / "stopped" / "logs" / "driver.log").read_text()
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed" and record["method"] == "mdd"
    epochs_table = store.read("epochs")
    assert sorted(epochs_table.column("epoch").to_pylist()) == list(range(epochs))
    # The resumed epochs carry on MDD's own terms and its reversal-weight ramp.
    ramp = [dict(t)["grl_lambda"] for t in epochs_table.sort_by("epoch").column("terms").to_pylist()]
    assert ramp == sorted(ramp) and 0 < ramp[0] < ramp[-1] <= 0.1


def test_a_sweep_submitted_with_ray_job_submit_runs_its_grid_on_the_cluster(
        head, cifar_jpeg, tmp_path):
    # The head is on this machine: the spec's storage (tmp_path/runs) is the cluster's too.
    spec = write_spec(tmp_path, cifar_jpeg, "j", 'method = ["source-only", "cdan"]')
    sent = run(["ray", "job", "submit", "--address", ADDRESS, "--working-dir", ".",
                "--runtime-env", "cluster/runtime_env.yaml", "--", "python", "-m",
                "jobs.sweep", spec], head.env())
    assert sent.returncode == 0, sent.stdout[-3000:] + sent.stderr[-3000:]
    assert "2 of 2 runs completed" in sent.stdout, sent.stdout[-3000:]
    for method in ("source-only", "cdan"):
        (record,) = MetricsStore(str(tmp_path / "runs"), f"j-method={method}") \
            .read("runs").to_pylist()
        assert (record["status"], record["method"]) == ("completed", method)
