"""What training workers read on the frozen-base fast path: every dataset that misses the
feature cache is extracted in one pass of one actor pool, yet each lands in its own cache
entry holding exactly its own rows; a dataset already cached is read, not recomputed."""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lib.adapt.data import plan_inputs
from lib.config import AdaptConfig, DataConfig
from lib.data.images import plan_images
from lib.data.uri import parse_uri
from lib.train.inputs import FeatureCache, load_for_workers, preflight


def entries(storage):
    """The cache's entries by key: not its own dot-named bookkeeping (.locks, .staging-*)."""
    return {p.name: p for p in (storage / "feature-cache").iterdir()
            if not p.name.startswith(".")}


def cached_ids(entry) -> set:
    return set(pq.read_table(entry / "data", columns=["example_id"]).column("example_id")
               .to_pylist())


def plan_ids(plan) -> set:
    return {plan.source.example_ids[i] for i in plan.indices}


def features(files) -> np.ndarray:
    return files.whole().columns["x"]


def test_misses_share_one_pass_but_not_their_entries(small_folder, tmp_path, ray_local):
    inputs = plan_inputs(AdaptConfig(
        source=f"folder:{small_folder}", target=f"folder:{small_folder}/../imgs/",
        target_shift="fog@4", source_val=None, data=DataConfig(seed=3)))
    cache = FeatureCache("hed", 32, "block4_pool", "fp32", str(tmp_path), 1)

    alone, _, feature_shape = load_for_workers({"source": inputs.source}, cache=cache,
                                                  shuffle_seed=0)
    assert feature_shape == (2, 2, 512)
    (source_key,) = entries(tmp_path)
    source_files = {p: p.stat().st_mtime_ns for p in (tmp_path / "feature-cache" / source_key
                                                      / "data").iterdir()}

    both, _, _ = load_for_workers({"source": inputs.source, "target": inputs.target},
                                  unlabelled=frozenset({"target"}), cache=cache,
                                  shuffle_seed=0)
    found = entries(tmp_path)
    assert len(found) == 2 and not any(name.startswith(".") for name in found)  # no staging
    # The source entry was a hit: its files are the ones written the first time.
    assert {p: p.stat().st_mtime_ns for p in source_files} == source_files
    target_key = next(name for name in found if name != source_key)
    assert cached_ids(found[source_key]) == plan_ids(inputs.source)
    assert cached_ids(found[target_key]) == plan_ids(inputs.target)
    assert len(plan_ids(inputs.source) | plan_ids(inputs.target)) == 40  # disjoint halves

    assert set(both["source"].whole().columns) == {"x", "label"}
    assert set(both["target"].whole().columns) == {"x"}
    first, again = features(alone["source"]), features(both["source"])
    np.testing.assert_array_equal(first, again)  # rows in id order, whatever the files' order
    assert first.shape == (20, 2, 2, 512)
    assert features(both["target"]).shape == (20, 2, 2, 512)


def test_images_reach_workers_shuffled_across_classes(cifar_jpeg, ray_local):
    """Sources list images class by class; workers shuffle only within a buffer, so the
    rows must already be mixed or a long epoch walks through the classes in turn."""
    plan = plan_images(parse_uri(f"folder:{cifar_jpeg}/train"), None, limit_per_class=30,
                       classes=None, seed=0, image_size=32)
    assert np.all(np.diff(plan.source.candidates().labels[plan.indices]) >= 0)  # as listed
    loaded, shape, feature_shape = load_for_workers({"train": plan}, cache=None, shuffle_seed=0)
    labels = np.concatenate([b["label"] for b in loaded["train"].iter_batches(
        batch_size=None, batch_format="numpy")])
    assert shape == (32, 32, 3) and feature_shape is None
    assert np.array_equal(np.bincount(labels), [30] * 10)  # every row, once
    assert all(len(set(labels[start:start + 30])) >= 6 for start in range(0, 300, 30))


def test_a_corrupt_cache_entry_is_extracted_again(small_folder, tmp_path, ray_local):
    plan = plan_images(parse_uri(f"folder:{small_folder}"), None, limit_per_class=None,
                       classes=None, seed=0, image_size=32)
    cache = FeatureCache("hed", 32, "block5_pool", "fp32", str(tmp_path), 1)
    first, _, _ = load_for_workers({"train": plan}, cache=cache, shuffle_seed=0)
    expected = features(first["train"])
    (entry,) = entries(tmp_path).values()
    (entry / "manifest.json").write_text('{"num_rows": 4')  # a crash mid-write, a hand edit
    again, _, _ = load_for_workers({"train": plan}, cache=cache, shuffle_seed=0)
    np.testing.assert_array_equal(features(again["train"]), expected)
    assert json.loads((entry / "manifest.json").read_text())["key"] == entry.name


def folder_plan(folder, limit_per_class=None):
    return plan_images(parse_uri(f"folder:{folder}"), None, limit_per_class=limit_per_class,
                       classes=None, seed=0, image_size=32)


@pytest.fixture(scope="module")
def filled(tmp_path_factory, cifar_jpeg, ray_local):
    """A cache entry of 40 real images (4 per class, listed class by class)."""
    folder = tmp_path_factory.mktemp("imgs")
    for class_dir in sorted((cifar_jpeg / "train").iterdir()):
        (folder / class_dir.name).mkdir()
        for f in sorted(class_dir.iterdir())[:4]:
            shutil.copy(f, folder / class_dir.name / f.name)
    cache = FeatureCache("hed", 32, "block5_pool", "fp32", str(tmp_path_factory.mktemp("s")), 1)
    loaded, _, _ = load_for_workers({"train": folder_plan(folder)}, cache=cache, shuffle_seed=0)
    return folder, cache, loaded["train"]


def test_a_hit_touches_no_pixel(filled, monkeypatch):
    folder, cache, _ = filled
    hit, miss = folder_plan(folder), folder_plan(folder, limit_per_class=3)  # a new run's

    def no_pixels(*args):
        raise AssertionError("pixels read")

    monkeypatch.setattr(type(hit.source), "preflight", no_pixels)
    monkeypatch.setattr(type(hit.source), "read", no_pixels)
    preflight({"train": hit}, cache)  # no decode: the key covers the files' sizes and mtimes
    loaded, shape, feature_shape = load_for_workers({"train": hit}, cache=cache,
                                                    shuffle_seed=0)
    assert shape == (32, 32, 3) and feature_shape == (1, 1, 512)
    assert len(loaded["train"].whole()) == 40
    with pytest.raises(AssertionError, match="pixels read"):
        preflight({"train": hit, "other": miss}, cache)  # a miss is still checked


def test_workers_read_equal_disjoint_class_mixed_shards_of_the_cache(filled):
    _, _, files = filled
    whole = files.whole().columns
    assert np.all(np.diff(whole["label"]) >= 0)  # read in id order: class by class
    label_of = {x.tobytes(): y for x, y in zip(whole["x"], whole["label"])}
    assert len(label_of) == 40  # a row's features identify it

    def rows(shard) -> set:
        return {x.tobytes() for x in shard.columns["x"]}

    shards = [files.shard(rank, 3, seed=5) for rank in range(3)]
    assert [len(s) for s in shards] == [13, 13, 13]  # 40 // 3 each, one row left out
    assert sum(len(rows(s)) for s in shards) == len(set.union(*map(rows, shards))) == 39
    for shard in shards:
        assert len(set(shard.columns["label"])) >= 5  # dealt across classes, not a run of them
        assert [label_of[x.tobytes()] for x in shard.columns["x"]] == \
            list(shard.columns["label"])  # each row keeps its own label
    again = files.shard(1, 3, seed=5)  # a restarted worker gets the same rows, same order
    np.testing.assert_array_equal(again.columns["x"], shards[1].columns["x"])
    assert rows(files.shard(1, 3, seed=6)) != rows(shards[1])
    sample = files.sample(7, seed=1)
    assert len(sample) == 7 and rows(sample) <= set(label_of)
    assert len(files.sample(100, seed=1)) == 40
    # The same entry with its rows in another order (as another extraction writes them):
    # the same shard, row for row.
    for path in (Path(files.entry) / "data").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.take(np.arange(len(table))[::-1]), path)
    np.testing.assert_array_equal(files.shard(1, 3, seed=5).columns["x"], shards[1].columns["x"])
