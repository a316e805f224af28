"""Bad input to adapt fails before training starts (folder images are checked in Ray Data
tasks): exit code, one line, nothing written."""

import shutil

import pytest

from lib.adapt.methods import registry
from tests.jobs.test_prepare_cli import assert_fails, run


def adapt(tmp_path, folder, *args):
    return run("--storage", tmp_path / "runs", "--weights", "hed", "--epochs", "1",
               "--source", f"folder:{folder}", "--source-val", f"folder:{folder}", *args,
               entry=("-m", "jobs.adapt"))


def test_target_with_other_classes(tmp_path, small_folder):
    target = tmp_path / "target"
    shutil.copytree(small_folder, target)
    shutil.rmtree(target / "ship")
    result = adapt(tmp_path, small_folder, "--target", f"folder:{target}")
    assert_fails(result, 65, "only in source: ship", out=tmp_path / "runs")


def test_target_smaller_than_one_batch(tmp_path, small_folder):
    target = tmp_path / "target"
    shutil.copytree(small_folder, target)
    for image in target.glob("*/000[123].jpg"):
        image.unlink()  # 10 target images against 40 source ones
    result = adapt(tmp_path, small_folder, "--target", f"folder:{target}", "--batch-size", "16")
    assert_fails(result, 65, "--target folder:", "fewer than one batch of 16",
                 out=tmp_path / "runs")


@pytest.mark.parametrize("args,code,fragment", [
    (["--method", "coral"], 2, f"use one of {', '.join(registry())}"),
    (["--target-shift", "fog@9"], 2, "fog@9"),
    (["--method-opt", "lambda_max=x"], 2, "--method-opt 'lambda_max=x' (dann): lambda_max "
                                          "takes a float"),
    (["--method", "source-only", "--method-opt", "lambda_max=1"], 2,
     "source-only has no such option (its options: none)"),
    (["--target-test", "folder:/nope"], 66, "/nope"),
])
def test_bad_usage_and_input(tmp_path, small_folder, args, code, fragment):
    args = args if "--target" in args else [*args, "--target", f"folder:{small_folder}"]
    result = adapt(tmp_path, small_folder, *args)
    assert_fails(result, code, fragment, out=tmp_path / "runs")


def test_target_is_required(tmp_path, small_folder):
    assert_fails(adapt(tmp_path, small_folder), 2, "--target")
