"""A run's model for inference computes what the training code's evaluation computed: for
every registered method (and each normalisation of a two-domain one) and for finetune,
from a checkpoint of cached-feature training, on real images; and an exported file loads
in a process that does not import raydapt."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lib.adapt.methods import canonical_options, get_method, registry
from lib.config import AdaptConfig, AdaptOptions, DataConfig, FinetuneConfig, ModelConfig, RunOptions
from lib.data.feed import InMemoryShard, caffe_preprocess
from lib.errors import DataError, NoInputError, UsageError
from lib.inference.epochs import run_epoch
from lib.inference.files import ModelFile, write_keras, write_saved_model
from lib.inference.model import build, open_model
from lib.train import checkpoint

BACKBONE = {"weights": "hed", "feature_layer": "block4_pool"}
WIDTH = 16


@pytest.fixture(scope="module")
def images(cifar_jpeg):
    """Two real test images per class, and their cached features at the cut of each
    setting here (what a cached run trains and evaluates on): block4_pool with a frozen
    base, block3_pool when block 4 trains."""
    from lib.models import feature_extractor

    files = [sorted((cifar_jpeg / "test" / c).iterdir())[:2]
             for c in sorted(os.listdir(cifar_jpeg / "test"))]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for pair in files for f in pair])
    labels = np.repeat(np.arange(10), 2).astype(np.int32)
    features = {cut: feature_extractor("hed", (32, 32, 3), 32, cut)(
        caffe_preprocess(pixels), training=False).numpy() for cut in ("block4_pool", "block3_pool")}
    return pixels, labels, features


def randomised(model, rng):
    """Every weight moved, BatchNorm statistics included: a routing or a normalisation
    taken from the wrong place then shows in the outputs."""
    for w in model.weights:  # a cached run's model holds only the blocks that train
        shape = tuple(w.shape)
        if w.path.endswith("moving_variance"):
            w.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        else:
            scale = 0.3 * (float(np.std(w.numpy())) or 1.0) if "conv" in w.path else 0.3
            w.assign((w.numpy() + rng.normal(0, scale, shape)).astype(np.float32))


def write_run(root, config, model, epoch: int, image_shape=(32, 32, 3)):
    """A run directory as a job leaves it: config.json and one checkpoint of `epoch`."""
    import keras

    run_dir = root / config.run.run_name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    plan = type("Plan", (), {"image_shape": image_shape,
                             "class_names": tuple(f"c{i}" for i in range(10))})()
    with checkpoint.saved(model, [optimizer], epoch, checkpoint.describing(plan)) as saved:
        saved.to_directory(str(run_dir / f"checkpoint_2026-12-04_00-00-0{epoch}.000000"))
    return run_dir


def adapt_config(tmp_path, method, domain_norm, trainable):
    cls = registry()[method]
    return AdaptConfig(target="folder:x", model=ModelConfig(**BACKBONE, trainable=trainable),
                       adapt=AdaptOptions(method=method, bottleneck=WIDTH, domain_norm=domain_norm,
                                          method_opt=canonical_options(cls, cls.Options())),
                       run=RunOptions(storage=str(tmp_path), run_name=f"{method}-{domain_norm}"))


CASES = [(name, get_method(name).normalisation("auto"), "head") for name in registry()] + \
        [("dann", "shared", "head"), ("dann", "statistics", "head"), ("dann", "separate", "top:1")]


@pytest.mark.parametrize(("method", "domain_norm", "trainable"), CASES)
def test_the_model_of_every_method_is_its_target_evaluation(images, tmp_path, method,
                                                            domain_norm, trainable):
    from lib.adapt.judge import EpochJudge
    from lib.adapt.networks import NetworkPlan, Networks
    from lib.models import parse_trainable

    pixels, labels, cached = images
    top_blocks = parse_trainable(trainable)
    features = cached["block3_pool" if top_blocks else "block4_pool"]
    method_obj = get_method(method)
    nets = Networks(NetworkPlan("hed", (32, 32, 3), 32, "block4_pool", top_blocks, 10, WIDTH,
                                domain_norm, feature_shape=features.shape[1:]), method_obj)
    randomised(nets.whole, np.random.default_rng(len(method) + len(domain_norm)))
    run_dir = write_run(tmp_path, adapt_config(tmp_path, method, domain_norm, trainable),
                        nets.whole, 3)

    # What rank 0's judge computes of the target test split each epoch.
    shard = InMemoryShard({"x": features, "label": labels})
    judge = EpochJudge(nets, {"source_sample": shard, "target_sample": shard,
                              "target_test": shard}, [f"c{i}" for i in range(10)], 0,
                       method_obj)
    _, logits, _ = judge._embed("target_test", shard)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)

    model = open_model(str(run_dir), "3")
    got = model.probabilities(pixels)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    if nets.mode != "shared":  # the source's normalisation is not what came out
        _, source_logits, _ = judge._embed("source_val", shard)
        assert not np.allclose(source_logits, logits, atol=1e-2)
    meta = model.metadata
    assert meta["identity"]["method"] == method and meta["epoch"] == 3
    assert meta["identity"]["reads_target_labels"] == method_obj.reads_target_labels
    assert meta["class_names"] == [f"c{i}" for i in range(10)]


def test_the_finetune_model_is_its_evaluation_and_files_load_without_raydapt(images, tmp_path):
    from lib.models import ModelPlan, build_model
    from lib.train.steps import evaluate, make_predict

    pixels, labels, cached = images
    features = cached["block4_pool"]
    trained = build_model(ModelPlan("hed", (32, 32, 3), 32, "block4_pool", 0, 10,
                                    feature_shape=features.shape[1:]))
    randomised(trained, np.random.default_rng(7))
    config = FinetuneConfig(model=ModelConfig(**BACKBONE), data=DataConfig(),
                            run=RunOptions(storage=str(tmp_path), run_name="ft"))
    run_dir = write_run(tmp_path, config, trained, 1)
    logits = np.concatenate(list(map(make_predict(trained), [features])))
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    # The training code's evaluation of the same epoch picks the same classes.
    scored = evaluate(make_predict(trained), InMemoryShard({"x": features, "label": labels})
                      .batches(8), 10)
    assert scored["accuracy"] == pytest.approx((expected.argmax(1) == labels).mean())

    run = run_epoch(str(run_dir), "1")
    model = build(run)
    np.testing.assert_allclose(np.asarray(model(pixels.astype(np.float32))), expected, atol=2e-5)
    write_keras(model, run.metadata(), str(tmp_path / "m.keras"))
    write_saved_model(model, run.metadata(), str(tmp_path / "m.savedmodel"))
    np.save(tmp_path / "pixels.npy", pixels)
    # A fresh process, no raydapt import: Keras and TensorFlow alone load the files.
    script = """
import sys, numpy as np, keras, tensorflow as tf
x = np.load("pixels.npy")
k = keras.saving.load_model("m.keras")(x.astype("float32"))
s = tf.saved_model.load("m.savedmodel").signatures["serve"](images=tf.constant(x))
assert not any(m == "lib" or m.startswith(("lib.", "jobs")) for m in sys.modules), "raydapt"
np.save("keras.npy", np.asarray(k)); np.save("saved.npy", s["probabilities"].numpy())
print(s["class_name"].numpy()[:3].tolist())
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("keras.npy", "saved.npy"):
        np.testing.assert_allclose(np.load(tmp_path / name), expected, atol=2e-5)
    top = [f"c{k}".encode() for k in expected.argmax(1)[:3]]
    assert str(top) in done.stdout
    for path in ("m.keras", "m.savedmodel"):
        loaded = ModelFile(str(tmp_path / path))
        assert loaded.metadata["identity"]["run"] == "ft"
        np.testing.assert_allclose(loaded.probabilities(pixels), expected, atol=2e-5)


def test_what_is_not_a_model_or_not_kept_is_one_line(tmp_path):
    config = FinetuneConfig(run=RunOptions(storage=str(tmp_path), run_name="r"))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    with pytest.raises(NoInputError, match=r"epoch 4 of run r \(asked\) was not kept: its "
                                           r"kept epochs are none"):
        run_epoch(str(tmp_path / "r"), "4")
    with pytest.raises(NoInputError, match="no run or model at"):
        open_model(str(tmp_path / "nothing"))
    (tmp_path / "notes.keras").write_text("not a zip")
    with pytest.raises(DataError, match="is not a model raydapt exported"):
        open_model(str(tmp_path / "notes.keras"))
    with pytest.raises(UsageError, match="--epoch is for runs"):
        open_model(str(tmp_path / "notes.keras"), "last")
