"""What the adapt job hands its workers: disjoint domains, shifted target, no target labels."""

import pytest

from lib.adapt.data import SAMPLES, plan_inputs, worker_inputs
from lib.config import AdaptConfig, AdaptOptions, DataConfig
from lib.errors import DataError
from lib.train.inputs import FeatureCache


def config(folder, test_folder=None, **kw):
    return AdaptConfig(
        source=f"folder:{folder}", target=f"folder:{folder}/../imgs/", target_shift="fog@4",
        source_val=f"folder:{test_folder or folder}", target_test=f"folder:{test_folder or folder}",
        data=DataConfig(seed=3), adapt=AdaptOptions(selection_samples=6), **kw)


def test_one_dataset_as_both_domains_is_split_into_disjoint_halves(small_folder):
    inputs = plan_inputs(config(small_folder))  # the same folder spelled two ways
    source_ids = {inputs.source.source.example_ids[i] for i in inputs.source.indices}
    target_ids = {inputs.target.source.example_ids[i] for i in inputs.target.indices}
    assert len(source_ids) == len(target_ids) == 20 and not source_ids & target_ids
    assert inputs.source.counts == inputs.target.counts == dict.fromkeys(
        inputs.source.class_names, 2)
    # The shift goes to the target and its test split only.
    assert inputs.source.shift is None and inputs.source_val.shift is None
    assert str(inputs.target.shift) == str(inputs.target_test.shift) == "fog@4"


def test_domains_with_different_classes_are_refused(small_folder, tmp_path):
    import shutil

    shutil.copytree(small_folder, tmp_path / "target")
    shutil.rmtree(tmp_path / "target" / "truck")
    bad = AdaptConfig(source=f"folder:{small_folder}", target=f"folder:{tmp_path}/target",
                      source_val=None)
    with pytest.raises(DataError, match="only in source: truck"):
        plan_inputs(bad)


@pytest.mark.parametrize("cached", [False, True], ids=["images", "features"])
def test_only_the_oracle_gets_target_labels(small_folder, tmp_path, ray_local, cached):
    """What rank 0 scores (its samples, lib/train/worker.WorkerData.sample) included: the
    target sample is unlabelled too."""
    from lib.train.session import Plan
    from lib.train.worker import WorkerData

    inputs = plan_inputs(config(small_folder))
    cache = FeatureCache("hed", 32, "block4_pool", "fp32", str(tmp_path), 1) if cached else None
    for reads in (False, True):
        read, shape, feature_shape = worker_inputs(config(small_folder), inputs, reads, cache)
        assert feature_shape == ((2, 2, 512) if cached else None)
        if cached:
            columns = {name: set(files.whole().columns) for name, files in read.items()}
            cfg = config(small_folder)
            plan = Plan(cfg, None, None, (32, 32, 3), feature_shape, None, 0, (),
                        (("source_val", ""), ("target_test", "")), features=read)
            data = WorkerData(plan, ("source", "target"), 0, 1, 4)
            size, seed = cfg.adapt.selection_samples, cfg.data.seed
            judged = {name: data.sample(name, domain, size, seed + offset)
                      for name, (domain, offset) in SAMPLES.items()}
            columns |= {name: set(judged[name].columns) for name in SAMPLES}
            sizes = {name: len(judged[name]) for name in SAMPLES}
            target_rows = len(read["target"].whole())
        else:
            columns = {name: set(ds.columns()) for name, ds in read.items()}
            sizes = {name: read[name].count() for name in SAMPLES}
            target_rows = read["target"].count()
        assert ("label" in columns["target"]) == reads
        assert ("label" in columns["target_sample"]) == reads
        assert "label" in columns["source"] and "label" in columns["target_test"]
        assert "label" in columns["source_sample"]
        assert sizes == {"source_sample": 6, "target_sample": 6}
        assert target_rows == 20
