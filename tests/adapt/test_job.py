"""The adapt job end to end on small real subsets."""

import subprocess
import sys

import pytest

from lib.adapt.job import adapt
from lib.config import (
    AdaptConfig,
    AdaptOptimConfig,
    AdaptOptions,
    DataConfig,
    ModelConfig,
    RunOptions,
    ScalingOptions,
)
from lib.metrics.store import MetricsStore
from lib.phases import RAY_TRAIN
from tests.conftest import REPO
from tests.train.test_inputs import entries

CRITERIA = ["last", "source_val", "dev", "snd", "oracle_target_test"]


def small(cifar_jpeg, storage, run, *, method="dann", workers=1, backbone=None, epochs=2,
          method_opt=()):
    return AdaptConfig(
        source=f"folder:{cifar_jpeg}/train", target=f"folder:{cifar_jpeg}/train",
        target_shift="contrast@5", source_val=f"folder:{cifar_jpeg}/test",
        target_test=f"folder:{cifar_jpeg}/test", eval_limit_per_class=4,
        data=DataConfig(limit_per_class=8, seed=2),
        model=backbone or ModelConfig(weights="hed", feature_layer="block4_pool"),
        adapt=AdaptOptions(method=method, method_opt=list(method_opt), selection_samples=30,
                           embedding_samples=12),
        optim=AdaptOptimConfig(epochs=epochs, batch_size=8),
        scaling=ScalingOptions(workers=workers),
        run=RunOptions(storage=str(storage), run_name=run))


@pytest.mark.slow
def test_dann_with_two_workers_training_part_of_the_backbone(cifar_jpeg, tmp_path, ray_local):
    # The image path (no feature cache): block3 trains, so every step runs VGG16 up to it.
    backbone = ModelConfig(weights="hed", feature_layer="block3_pool", trainable="top:1",
                           feature_cache=False)
    picks = adapt(small(cifar_jpeg, tmp_path, "dann2", workers=2, backbone=backbone))
    store = MetricsStore(str(tmp_path), "dann2")
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed" and record["workers"] == 2
    assert record["method"] == "dann" and record["reads_target_labels"] is False
    epochs = store.read("epochs").sort_by("epoch").to_pylist()
    assert [e["epoch"] for e in epochs] == [0, 1]
    terms = [dict(e["terms"]) for e in epochs]
    for e, t in zip(epochs, terms):
        assert set(t) == {"domain_loss", "domain_accuracy", "grl_lambda"}
        assert 0 <= t["domain_accuracy"] <= 1 and t["domain_loss"] > 0
        assert e["snd"] is not None and e["dev"] is not None and e["images_per_s"] > 0
    assert 0 < terms[0]["grl_lambda"] < terms[1]["grl_lambda"] <= 1
    assert epochs[1]["learning_rate"] < epochs[0]["learning_rate"] < 3e-4  # annealed
    evals = store.read("evals").to_pylist()
    assert sorted((e["epoch"], e["split"]) for e in evals) == [
        (0, "source_val"), (0, "target_test"), (1, "source_val"), (1, "target_test")]
    assert {e["num_examples"] for e in evals} == {40}
    assert any("contrast@5" in e["dataset"] for e in evals if e["split"] == "target_test")
    distances = store.read("domain_distance").to_pylist()
    assert sorted((d["epoch"], d["representation"]) for d in distances) == [
        (-1, "backbone"), (0, "bottleneck"), (1, "bottleneck")]
    embeddings = store.read("embeddings").to_pylist()
    counts = {}
    for e in embeddings:
        key = (e["epoch"], e["representation"], e["domain"])
        counts[key] = counts.get(key, 0) + 1
        assert (e["label"] is None) == (e["domain"] == "target")  # target labels unread
    assert counts == {(epoch, rep, domain): 12 for epoch, rep in
                      ((-1, "backbone"), (0, "bottleneck"), (1, "bottleneck"))
                      for domain in ("source", "target")}
    sizes = {(e["representation"], len(e["features"])) for e in embeddings}
    assert sizes == {("backbone", 4 * 4 * 256), ("bottleneck", 256)}  # block3_pool at 32x32
    selection = store.read("selection").to_pylist()
    assert [s["criterion"] for s in selection] == CRITERIA == list(picks)
    assert all(s["epoch"] in (0, 1) for s in selection)
    # Where the wall time went: the driver's phases, and rank 0's inside Ray Train's fit.
    phases = dict(record["phases"])
    assert list(phases) == [
        "preflight (listing, checks)", "Ray start or connect", "decoding and checks (Ray Data)",
        "data for the workers (feature cache or images)",
        "worker set-up (TensorFlow, networks, data into memory)",
        "evaluation and selection scores", "metrics and checkpoint writes", "training steps",
        RAY_TRAIN, "epoch selection"]
    assert phases["training steps"] == pytest.approx(sum(e["epoch_seconds"] for e in epochs))
    assert all(v >= 0 for v in phases.values())
    assert sum(phases.values()) <= record["wall_seconds"] + 1e-6
    assert not (tmp_path / "dann2" / "logs" / "worker-phases.json").exists()  # folded in


@pytest.mark.slow
def test_baselines_through_the_job_and_the_oracle_is_marked(cifar_jpeg, tmp_path, ray_local):
    adapt(small(cifar_jpeg, tmp_path, "source-only", method="source-only"))
    store = MetricsStore(str(tmp_path), "source-only")
    for e in store.read("epochs").to_pylist():
        assert e["terms"] == [] and e["reads_target_labels"] is False

    # The oracle from the command line: its output says it read target labels.
    result = subprocess.run(
        [sys.executable, "-m", "jobs.adapt", "--method", "oracle",
         "--source", f"folder:{cifar_jpeg}/train", "--target", f"folder:{cifar_jpeg}/train",
         "--target-shift", "contrast@5", "--source-val", f"folder:{cifar_jpeg}/test",
         "--target-test", f"folder:{cifar_jpeg}/test", "--eval-limit-per-class", "4",
         "--limit-per-class", "8", "--seed", "2", "--weights", "hed",
         "--feature-layer", "block4_pool", "--selection-samples", "30", "--epochs", "2",
         "--batch-size", "8", "--storage", str(tmp_path), "--run-name", "oracle"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "oracle [trained on TARGET LABELS" in result.stdout
    # A clean console: the header, a line per epoch, the summary; Ray's and TensorFlow's
    # output (worker start-up, checkpoints, Ray Data) is in the run's log instead.
    lines = result.stdout.splitlines()
    assert lines[0].startswith("adapt oracle: oracle, 80 source + 80 target images (contrast@5)")
    assert [x.split("  ")[0] for x in lines if x.startswith("epoch ")] == ["epoch 1/2",
                                                                           "epoch 2/2"]
    assert len(lines) <= 12 and "RayTrainWorker" not in result.stdout + result.stderr
    assert "RayTrainWorker" in (tmp_path / "oracle" / "logs" / "driver.log").read_text()
    store = MetricsStore(str(tmp_path), "oracle")
    for table in ("runs", "epochs", "evals", "selection", "domain_distance"):
        assert set(store.read(table).column("reads_target_labels").to_pylist()) == {True}
    # Both runs share the backbone features of the same images: extracted once each.
    assert len(entries(tmp_path)) == 4


@pytest.mark.slow
def test_divergence_fails_the_run_at_once_naming_epoch_and_step(cifar_jpeg, tmp_path):
    # An absurd rate blows the weights up in the first steps; the run must stop with the
    # place named instead of writing NaN metrics.
    result = subprocess.run(
        [sys.executable, "-m", "jobs.adapt", "--source", f"folder:{cifar_jpeg}/train",
         "--target", f"folder:{cifar_jpeg}/train", "--target-shift", "contrast@5",
         "--source-val", f"folder:{cifar_jpeg}/test", "--eval-limit-per-class", "4",
         "--limit-per-class", "8", "--weights", "hed", "--feature-layer", "block4_pool",
         "--selection-samples", "30", "--epochs", "2", "--batch-size", "8",
         "--learning-rate", "1e30", "--lr-alpha", "0", "--max-failures", "2",
         "--storage", str(tmp_path), "--run-name", "diverged"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 1, result.stderr[-3000:]
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert "non-finite loss in epoch 0 at step" in line, line
    # Not a worker fault: a retry would diverge again, so none of the 2 allowed is spent.
    log = (tmp_path / "diverged" / "logs" / "driver.log").read_text()
    assert "Started training worker group" in log and "RETRY" not in log
    assert "retry" not in result.stdout.lower()
    assert not (tmp_path / "diverged" / "diverged.json").exists()  # a --resume starts clean
    (record,) = MetricsStore(str(tmp_path), "diverged").read("runs").to_pylist()
    assert record["status"] == "failed" and "non-finite" in record["message"]
    assert MetricsStore(str(tmp_path), "diverged").files("epochs") == []



# dann, source-only and oracle run through the job above; the others share their path
# (lib/train/worker.py, lib/adapt/session.py) and run through tests/adapt/test_methods.py.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["cdan+e", "adabn"])
def test_a_method_through_the_job_records_its_terms_and_hyperparameters(cifar_jpeg, tmp_path,
                                                                        ray_local, method):
    import json

    from lib.adapt.methods import canonical_options, parse_options, registry

    cls = registry()[method]
    options = {"cdan+e": ["lambda-max=0.5"], "adabn": []}[method]
    picks = adapt(small(cifar_jpeg, tmp_path, method, method=method, method_opt=options))
    store = MetricsStore(str(tmp_path), method)
    (record,) = store.read("runs").to_pylist()
    assert record["status"] == "completed" and record["method"] == method
    saved = json.loads((tmp_path / method / "config.json").read_text())["adapt"]
    # Every hyperparameter, defaults too, in the method's own spelling.
    assert saved["method_opt"] == canonical_options(cls, parse_options(cls, options))
    assert {"cdan+e": "lambda_max=0.5"}.get(method, "") in " ".join(saved["method_opt"])
    assert saved["domain_norm"] == cls.domain_norm  # auto, resolved
    own = {"cdan+e": {"domain_loss", "domain_accuracy", "grl_lambda"}, "adabn": set()}[method]
    for e in store.read("epochs").to_pylist():
        assert set(dict(e["terms"])) == own
    assert list(picks) == CRITERIA
