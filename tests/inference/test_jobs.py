"""From a trained run to predictions, as a user goes: the run keeps its model's epoch,
export writes it, evaluate on the run's own target test data prints what the run recorded
for that epoch, predict labels the images; bad input is one line, its exit code, and
nothing written."""

import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lib.adapt.job import adapt
from lib.config import EvaluateConfig, FailureOptions, InferenceRun, PredictConfig, ScoredData
from lib.inference.epochs import model_epoch
from lib.inference.evaluate import evaluate
from lib.inference.predict import predict
from lib.metrics.store import MetricsStore
from lib.train.checkpoint import kept_epochs
from tests.adapt.test_job import small
from tests.conftest import REPO


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=os.environ | {"PYTHONPATH": str(REPO)})


def config_of(run_dir):
    import json

    return json.loads((run_dir / "config.json").read_text())


def listing(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*")
                  if p.is_file())


@pytest.mark.slow
def test_from_a_run_to_predictions(cifar_jpeg, tmp_path, ray_local):
    from dataclasses import replace

    # Kept by SND: here it picks an early epoch, not the last, so what Ray Train keeps
    # shows the rule (source validation, the default, runs through tests/adapt/test_job.py;
    # fit() fails a run whose rule's metric the workers do not report).
    config = small(cifar_jpeg, tmp_path, "run", epochs=4)
    config = replace(config, adapt=replace(config.adapt, select_by="snd"),
                     failure=FailureOptions(checkpoints_to_keep=1))
    adapt(config)
    run_dir = tmp_path / "run"
    store = MetricsStore(str(tmp_path), "run")
    selection = store.read("selection").to_pylist()
    evals = store.read("evals").to_pylist()
    chosen = next(s["epoch"] for s in selection if s["criterion"] == "snd")
    assert chosen != 3, "SND picked the last epoch: the kept set shows no rule"
    # Ray Train kept the best by SND (ties: the later epoch, as selection picks) and the
    # latest: nothing else.
    assert set(kept_epochs(str(run_dir))) == {chosen, 3}
    assert model_epoch("adapt", config_of(run_dir)["adapt"]["select_by"], selection, evals, []) == (
        chosen, "selected (snd)")

    export = cli("jobs.export", str(run_dir), "--out", "model.keras", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert f"epoch {chosen} (selected (snd))" in export.stdout
    # The adapt model in a process that does not import raydapt.
    script = """
import sys, numpy as np, keras
from PIL import Image
x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sys.argv[1:]])
p = keras.saving.load_model("model.keras")(x.astype("float32")).numpy()
assert not any(m == "lib" or m.startswith(("lib.", "jobs")) for m in sys.modules), "raydapt"
np.save("fresh.npy", p)
"""
    files = [str(p) for p in sorted((cifar_jpeg / "test" / "cat").iterdir())[:3]]
    done = subprocess.run([sys.executable, "-c", script, *files], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    from lib.inference.files import ModelFile

    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])
    np.testing.assert_allclose(np.load(tmp_path / "fresh.npy"),
                               ModelFile(str(tmp_path / "model.keras")).probabilities(pixels),
                               atol=1e-6)

    data = ScoredData(data=f"folder:{cifar_jpeg}/test", target_shift="contrast@5",
                      limit_per_class=4)
    recorded = next(e for e in evals if e["epoch"] == chosen and e["split"] == "target_test")
    for model in (str(run_dir), str(tmp_path / "model.keras")):
        row = evaluate(EvaluateConfig(model=model, data=data, inference=InferenceRun()))
        assert row["epoch"] == chosen and row["num_examples"] == 40
        assert row["accuracy"] == recorded["accuracy"]
        assert row["confusion"] == recorded["confusion"]
    written = store.read("evaluations").to_pylist()
    assert len(written) == 2 and {r["accuracy"] for r in written} == {recorded["accuracy"]}
    evaluate(EvaluateConfig(model=str(run_dir), data=data, inference=InferenceRun()))
    assert len(store.read("evaluations").to_pylist()) == 2  # the same again replaces its row

    out = tmp_path / "predictions.parquet"
    predict(PredictConfig(model=str(tmp_path / "model.keras"), out=str(out), data=data,
                          inference=InferenceRun()))
    table = pq.read_table(out).to_pylist()
    assert len(table) == 40
    probabilities = np.array([r["probabilities"] for r in table])
    assert [r["class_id"] for r in table] == probabilities.argmax(1).tolist()
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert all(os.path.isfile(r["path"]) and r["path"].endswith(r["example_id"]) for r in table)
    # What predict labelled is what evaluate counted, class by class.
    predicted = np.bincount([r["class_id"] for r in table], minlength=10)
    assert predicted.tolist() == np.array(recorded["confusion"]).sum(0).tolist()

    report = cli("jobs.report", str(tmp_path), "--run", "run", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "the model: selected (snd)" in report.stdout
    assert "Evaluations (raydapt evaluate)" in report.stdout

    # Bad input: one line, the code, nothing written.
    not_kept = next(e for e in range(4) if e not in (chosen, 3))
    before = listing(tmp_path)
    cases = [
        (("jobs.export", str(run_dir), "--epoch", str(not_kept), "--out", "other.keras"), 66,
         f"error: epoch {not_kept} of run run (asked) was not kept: its kept epochs are "),
        (("jobs.export", str(tmp_path / "nothing"), "--out", "x.keras"), 66,
         "error: no run at "),
        (("jobs.evaluate", str(run_dir), "--data", f"folder:{cifar_jpeg}/test", "--classes",
          "cat,dog", "--limit-per-class", "2"), 65, "error: --data folder:"),
        (("jobs.predict", "predictions.parquet", "--data", f"folder:{cifar_jpeg}/test",
          "--out", "p2.parquet"), 65, "is not a model raydapt exported"),
    ]
    for args, code, message in cases:
        done = cli(*args, cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == code and len(lines) == 1 and message in lines[0], \
            (args, done.returncode, done.stderr[-1500:])
    assert listing(tmp_path) == before
