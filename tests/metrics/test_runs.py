"""The run record written for a run that cannot write its own: a sweep's stopped trial."""

import threading

from lib.metrics.runs import RunRecord, record_stopped
from lib.metrics.store import MetricsStore

IDENTITY = {"run": "r", "job": "adapt", "method": "dann", "reads_target_labels": False,
            "config_hash": "h", "workers": 1, "replicas": 1}


def running(tmp_path) -> MetricsStore:
    store = MetricsStore(str(tmp_path), "r")
    RunRecord(store, IDENTITY, {}).write("running")
    return store


def test_a_second_signal_does_not_cut_the_stop_record_short(tmp_path,
                                                            signal_during_final_record):
    store = running(tmp_path)
    assert record_stopped(store, "stopped by SIGTERM (its sweep's)")
    assert signal_during_final_record == ["runs"]  # it was sent, and ignored
    (record,) = store.read("runs").to_pylist()
    assert (record["status"], record["message"]) == ("stopped",
                                                     "stopped by SIGTERM (its sweep's)")
    assert not record_stopped(store, "again")  # an ended run keeps its own record


def test_off_the_main_thread_the_record_is_written_without_touching_signals(tmp_path):
    # Only the main thread may set signal handlers: elsewhere they are left alone.
    store, results = running(tmp_path), []
    thread = threading.Thread(target=lambda: results.append(record_stopped(store, "m")))
    thread.start()
    thread.join()
    assert results == [True]
    assert store.read("runs").to_pylist()[0]["status"] == "stopped"
