"""The driver side of a run: SIGTERM (what `ray job stop` sends) records it stopped and
exits 143; a failed run's error is one readable line. (Stop and --resume through a real
Ray job: tests/cluster/test_e2e.py.)"""

import os
import signal
import time

import pytest

from lib.metrics.runs import RunRecord
from lib.metrics.store import MetricsStore
from lib.train.fitting import root_cause
from lib.train.record import RunStopped, recorded
from tests.metrics.test_runs import IDENTITY


def test_a_tensorflow_graph_error_keeps_its_message_not_its_stack():
    text = ('Graph execution error:\n\nDetected at node adam/CollectiveReduceV2 defined at (most '
            'recent call last):\n  File "/usr/lib/threading.py", line 1002, in _bootstrap\n\n'
            '  File "/w/lib/adapt/step.py", line 23, in step\n\nCollective ops is aborted by: '
            'task 1 is unhealthy\n\t [[{{node adam/CollectiveReduceV2}}]] '
            '[Op:__inference_step_1239]')
    assert root_cause(RuntimeError(text)) == (
        "RuntimeError: Graph execution error: at node adam/CollectiveReduceV2: Collective ops "
        "is aborted by: task 1 is unhealthy")
    assert root_cause(ValueError("plain\n  message")) == "ValueError: plain message"


def test_sigterm_during_a_run_records_it_stopped_and_exits_143(tmp_path, ray_local):
    # What `ray job stop` does to a driver, sent here to this process; the whole path
    # through Ray is tests/cluster/test_e2e.py.
    store = MetricsStore(str(tmp_path), "r")
    before = signal.getsignal(signal.SIGTERM)  # Ray's own, once Ray is up
    with pytest.raises(RunStopped) as stopped:
        with recorded(RunRecord(store, IDENTITY, {}), store):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal arrives here
    assert stopped.value.exit_code == 143
    assert str(stopped.value) == "stopped by SIGTERM; continue with --resume r"
    (record,) = store.read("runs").to_pylist()
    assert (record["status"], record["message"]) == ("stopped", str(stopped.value))
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is put back


def test_a_second_signal_while_a_stop_is_recorded_does_not_cut_the_record_short(
        tmp_path, ray_local, signal_during_final_record):
    store = MetricsStore(str(tmp_path), "r")
    with pytest.raises(RunStopped):
        with recorded(RunRecord(store, IDENTITY, {}), store):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal arrives here
    assert signal_during_final_record == ["runs"]
    assert store.read("runs").to_pylist()[0]["status"] == "stopped"


def test_a_signal_while_a_finished_run_is_recorded_does_not_cut_the_record_short(
        tmp_path, ray_local, signal_during_final_record):
    store = MetricsStore(str(tmp_path), "r")
    with recorded(RunRecord(store, IDENTITY, {}), store):
        pass
    assert signal_during_final_record == ["runs"]
    assert store.read("runs").to_pylist()[0]["status"] == "completed"


def _scored_epochs(config):
    """A worker that reports a checkpoint per epoch with made-up scores (no TensorFlow)."""
    import tempfile

    import ray.train

    from lib.train.checkpoint import META

    for epoch, score in enumerate(config["scores"]):
        with tempfile.TemporaryDirectory() as path:
            with open(os.path.join(path, META), "w") as f:
                f.write(f'{{"epoch": {epoch}}}')
            ray.train.report({"score": score},
                             checkpoint=ray.train.Checkpoint.from_directory(path))


@pytest.mark.slow
def test_fit_keeps_the_best_epoch_by_its_rule_ties_to_the_later_and_the_latest(tmp_path,
                                                                                ray_local):
    from lib.config import FailureOptions, ScalingOptions
    from lib.train.checkpoint import kept_epochs
    from lib.train.fitting import fit

    # Epochs 1 and 2 tie at the best score: selection (lib/adapt/selection.py) takes the
    # later, so Ray Train must keep that one; epoch 4 is the latest (--resume's). ("min",
    # DEV's order, is Ray Train's negation of the same ranking.)
    fit(_scored_epochs, {"scores": [0.5, 0.9, 0.9, 0.1, 0.2]}, {}, [],
        ScalingOptions(workers=1, cpus_per_worker=1), "keep", str(tmp_path),
        FailureOptions(checkpoints_to_keep=1), keep=("score", "max"))
    assert set(kept_epochs(str(tmp_path / "keep"))) == {2, 4}


def test_the_ray_train_settings_we_set_are_still_read_and_passed_to_the_workers():
    # Private to Ray Train: if these names move, our settings silently stop applying (the
    # report wait returns, a hung worker hangs again). This fails first.
    from ray.train.v2._internal import constants

    from lib.train.fitting import RAY_TRAIN_POLL_INTERVAL, RAY_TRAIN_TIMEOUTS

    assert constants.HEALTH_CHECK_INTERVAL_S_ENV_VAR == RAY_TRAIN_POLL_INTERVAL
    assert {constants.COLLECTIVE_TIMEOUT_S_ENV_VAR,
            constants.WORKER_HEALTH_CHECK_TIMEOUT_S_ENV_VAR} == set(RAY_TRAIN_TIMEOUTS)
    assert {RAY_TRAIN_POLL_INTERVAL, *RAY_TRAIN_TIMEOUTS} <= constants.ENV_VARS_TO_PROPAGATE


def test_a_run_driven_from_another_thread_is_recorded_without_a_signal_handler(tmp_path,
                                                                              ray_local):
    # A Ray Tune trial runs its function in a thread, where signal.signal raises: the
    # run there must still be recorded (its stop is the trial's driver's to make).
    import threading

    store = MetricsStore(str(tmp_path), "r")
    errors = []

    def drive():
        try:
            with recorded(RunRecord(store, IDENTITY, {}), store):
                pass
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=drive)
    thread.start()
    thread.join()
    assert not errors, errors
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed"
