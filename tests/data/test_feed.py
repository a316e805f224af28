import json

import numpy as np
import pytest

from lib.data.feed import caffe_preprocess, epoch_batches, model_ready, train_data_config
from lib.data.images import plan_images
from lib.data.uri import parse_uri
from lib.train.backend import tensorflow_trainer


def test_caffe_preprocess_matches_keras(cifar_jpeg):
    import keras
    from PIL import Image

    img = np.asarray(Image.open(cifar_jpeg / "train/cat/0000.jpg"))[None]
    expected = keras.applications.vgg16.preprocess_input(img.astype(np.float32))
    np.testing.assert_allclose(caffe_preprocess(img), expected, atol=1e-4)


def load(path, **kw):
    options = {"limit_per_class": None, "classes": None, "seed": 0, "image_size": 32} | kw
    return plan_images(parse_uri(f"folder:{path}"), None, **options).load()


def test_model_ready_batches(small_folder, ray_local):
    ds, shape = load(small_folder)
    batch = next(iter(model_ready(ds, shape).iter_batches(batch_size=8, batch_format="numpy")))
    assert batch["x"].dtype == np.float32 and batch["x"].shape == (8, 32, 32, 3)
    assert batch["label"].dtype == np.int32
    unlabelled = next(iter(model_ready(ds, shape, with_labels=False).iter_batches(batch_size=8)))
    assert "label" not in unlabelled


@pytest.mark.slow
def test_two_workers_get_disjoint_equal_shards(cifar_jpeg, tmp_path, ray_local):
    """Through Ray Train, as training runs: each worker records the ids it saw."""
    from ray.train import RunConfig, ScalingConfig

    source, shape = load(cifar_jpeg / "train", limit_per_class=21)  # 210 rows
    target, _ = load(cifar_jpeg / "test", limit_per_class=13)  # 130 rows
    batch = 16

    def loop(config):
        import ray.train

        rank = ray.train.get_context().get_world_rank()
        seen = {}
        for name in ("source", "target"):
            shard = ray.train.get_dataset_shard(name)
            steps, ids = 0, []
            for b in epoch_batches(shard, config["batch"], shuffle_seed=rank):
                steps += 1
                assert len(b["x"]) == config["batch"]
                ids += list(b["example_id"])
            seen[name] = {"steps": steps, "ids": ids}
        with open(f"{config['out']}/rank{rank}.json", "w") as f:
            json.dump(seen, f)

    tensorflow_trainer(
        loop, train_loop_config={"batch": batch, "out": str(tmp_path)},
        scaling_config=ScalingConfig(num_workers=2),
        datasets={"source": model_ready(source, shape),
                  "target": model_ready(target, shape, with_labels=False)},
        dataset_config=train_data_config(),
        run_config=RunConfig(storage_path=str(tmp_path / "storage"), name="shards"),
    ).fit()
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for name, rows in (("source", 210), ("target", 130)):
        a, b = (set(r[name]["ids"]) for r in ranks)
        assert not a & b, "shards overlap"
        assert ranks[0][name]["steps"] == ranks[1][name]["steps"] == rows // 2 // batch
        assert len(a | b) == 2 * (rows // 2 // batch) * batch  # all but the dropped remainder
        assert len(a) == len(ranks[0][name]["ids"])  # no row twice within a shard
