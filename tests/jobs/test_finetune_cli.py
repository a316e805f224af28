"""Bad input to finetune fails before training starts (folder images are checked in Ray Data
tasks): exit code, one line, nothing written."""

import shutil

import pytest

from tests.jobs.test_prepare_cli import assert_fails, run


def finetune(tmp_path, *args):
    return run("--storage", tmp_path / "runs", "--weights", "hed", "--epochs", "1", *args,
               entry=("-m", "jobs.finetune"))


def test_class_lists_differ(tmp_path, small_folder):
    val = tmp_path / "val"
    shutil.copytree(small_folder, val)
    shutil.rmtree(val / "frog")
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--val", f"folder:{val}")
    assert_fails(result, 65, "only in source: frog", out=tmp_path / "runs")


def test_truncated_image_fails_before_training_and_leaves_nothing(tmp_path, small_folder):
    bad = small_folder / "truck/0003.jpg"
    bad.write_bytes(bad.read_bytes()[:100])
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--val",
                      f"folder:{small_folder}")
    assert_fails(result, 65, "truck/0003.jpg", out=tmp_path / "runs")
    # A storage that holds other runs keeps them, and only them.
    (tmp_path / "runs/other").mkdir(parents=True)
    (tmp_path / "runs/other/config.json").write_text("{}")
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--val",
                      f"folder:{small_folder}")
    assert_fails(result, 65, "truck/0003.jpg")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["other"]
    assert (tmp_path / "runs/other/config.json").read_text() == "{}"


@pytest.mark.parametrize("args,code,fragment", [
    (["--workers", "0"], 2, "--workers"),
    (["--batch-size", "0"], 2, "--batch-size"),  # per replica: never fewer than replicas
    (["--trainable", "top:9"], 2, "--trainable"),
    (["--weights", "vgg19"], 2, "--weights"),
    (["--weights", "/nope/w.weights.h5"], 66, "weights file not found"),
    (["--resume", "no-such-run"], 66, "no run 'no-such-run'"),
    (["--batch-size", "64"], 65, "fewer than one batch of 64"),
    (["--val", "folder:/nope"], 66, "/nope"),
])
def test_bad_usage_and_input(tmp_path, small_folder, args, code, fragment):
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--val",
                      f"folder:{small_folder}", *args)
    assert_fails(result, code, fragment, out=tmp_path / "runs")


def test_init_from_a_checkpoint_without_weight_names_fails_before_ray(tmp_path, small_folder):
    import json

    checkpoint = tmp_path / "runs" / "old" / "checkpoint_2026-11-01_00-00-00.000000"
    checkpoint.mkdir(parents=True)
    (checkpoint / "meta.json").write_text(json.dumps({"epoch": 0}))
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--val",
                      f"folder:{small_folder}", "--trainable", "top:1", "--init-from", "old")
    assert_fails(result, 2, "--init-from", "no weight names")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["old"]  # nothing else written


@pytest.mark.parametrize("args,fragment", [
    (["--run-name", "../escape"], "'../escape' is not a run name"),
    (["--run-name", "a/b"], "'a/b' is not a run name"),
    (["--run-name", ""], "'' is not a run name"),
    (["--run-name", "feature-cache"], "feature-cache is reserved"),
    (["--resume", "-x"], "'-x' is not a run name"),
    (["--learning-rate", "-1"], "-1.0: must be a finite number > 0"),
    (["--learning-rate", "nan"], "nan: must be a finite number > 0"),
    (["--learning-rate", "inf"], "inf: must be a finite number > 0"),
    (["--collective-timeout-s", "0"], "0.0: must be a finite number > 0"),
    (["--classes", "cat,dog,cat"], "names cat more than once"),
    (["--classes", "cat"], "name at least two classes"),
])
def test_usage_errors_name_the_value(tmp_path, small_folder, args, fragment):
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", *args)
    assert_fails(result, 2, fragment, out=tmp_path / "runs")


def listing(root):
    return sorted((str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*")
                  if p.is_file())


def test_a_run_name_in_use_is_refused_and_a_corrupt_config_named(tmp_path, small_folder):
    taken = tmp_path / "runs" / "taken"
    taken.mkdir(parents=True)
    (taken / "config.json").write_text("{}")
    before = listing(tmp_path)
    result = finetune(tmp_path, "--source", f"folder:{small_folder}", "--run-name", "taken")
    assert_fails(result, 73, "run 'taken' already exists", "--resume taken",
                 "another --run-name")
    assert listing(tmp_path) == before, "nothing written"

    (taken / "config.json").write_text('{"source": "folder:x", "data": {')  # cut short
    before = listing(tmp_path)
    assert_fails(finetune(tmp_path, "--resume", "taken"), 65,
                 f"{taken}/config.json is corrupt: not JSON")
    assert listing(tmp_path) == before, "nothing written"
