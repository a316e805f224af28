"""The sweep's console lines, driven by Ray Tune's own Trial objects: the counts, each
run's time, the estimate of what is left, and which runs a stop must record stopped."""

import time

from ray.tune.experiment import Trial

from lib.sweep.progress import TrialLines


def trial(index: int, accuracy: float | None = None) -> Trial:
    made = Trial("a trainable", config={"index": index}, stub=True)
    if accuracy is not None:
        made.update_last_result({"accuracy": accuracy})  # what Tune does with a report
    return made


def test_each_trial_gets_a_line_with_counts_its_time_and_the_estimate_left(monkeypatch,
                                                                           capsys):
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    lines = TrialLines(["a", "b", "c"])
    first, second = trial(0, accuracy=0.51234), trial(1)
    lines.on_trial_start(0, [], first)
    now[0] = 130.0
    lines.on_trial_start(0, [], second)
    assert lines.running == {"a", "b"}

    now[0] = 160.0  # a: 60 s; 1 of 3 ended in 60 s, so 2 left take 120 s
    lines.on_trial_complete(0, [], first)
    assert lines.running == {"b"}
    now[0] = 190.0  # b: 60 s since its start; 2 ended in 90 s, 1 left: 45 s
    lines.on_trial_error(0, [], second)
    assert lines.running == set()
    assert capsys.readouterr().out.splitlines() == [
        "  started a",
        "  started b",
        "  completed a: accuracy 0.5123 in 1:00  [1 done, 0 failed, 2 to go, eta 2:00]",
        "  failed b in 1:00  [1 done, 1 failed, 1 to go, eta 0:45]",
    ]
