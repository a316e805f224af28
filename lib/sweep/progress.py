"""What a person follows of a sweep: a line when each trial starts and ends, with the
counts so far and an estimate of what is left (Ray Tune's own trial table goes to the
sweep's log)."""

from __future__ import annotations

import time

from ray.tune import Callback

from lib.console import duration, say


class TrialLines(Callback):
    """Tune pickles its callbacks with the experiment's state: this one holds no console,
    it says its lines through lib/console.say."""

    def __init__(self, names: list[str]):
        self.names = names
        self.started: dict[str, float] = {}
        self.running: set[str] = set()  # what a stop must record stopped
        self.ended = {"done": 0, "failed": 0}
        self.began = time.monotonic()

    def _name(self, trial) -> str:
        return self.names[trial.config["index"]]

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started[self._name(trial)] = time.monotonic()
        self.running.add(self._name(trial))
        say(f"  started {self._name(trial)}")

    def _end(self, trial, status: str, detail: str) -> None:
        self.running.discard(self._name(trial))
        self.ended["done" if status == "completed" else "failed"] += 1
        finished = sum(self.ended.values())
        elapsed = time.monotonic() - self.began
        left = len(self.names) - finished
        eta = f", eta {duration(elapsed / finished * left)}" if left else ""
        took = time.monotonic() - self.started.get(self._name(trial), self.began)
        say(f"  {status} {self._name(trial)}{detail} in {duration(took)}  "
            f"[{self.ended['done']} done, {self.ended['failed']} failed, {left} to go{eta}]")

    def on_trial_complete(self, iteration, trials, trial, **info):
        accuracy = (trial.last_result or {}).get("accuracy")
        self._end(trial, "completed",
                  f": accuracy {accuracy:.4f}" if isinstance(accuracy, float) else "")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, "failed", "")
