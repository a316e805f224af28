"""A run directory's config: written once, read back typed by the one reader, and
--resume refusing what is not a run of the same job."""

import dataclasses
import json

import pytest

from lib.config import AdaptConfig, FinetuneConfig, RunOptions
from lib.errors import NoInputError, UsageError
from lib.train.rundir import read_config, resolve_run, save_config


def test_a_saved_config_reads_back_typed_and_equal(tmp_path):
    adapt = AdaptConfig(source="folder:s", target="folder:t", target_shift="fog@4",
                        run=RunOptions(storage=str(tmp_path), run_name="a"))
    finetune = FinetuneConfig(source="folder:s", run=RunOptions(storage=str(tmp_path),
                                                                run_name="f"))
    for config in (adapt, finetune):
        save_config(str(tmp_path), config.run.run_name, config)
        read = read_config(f"{tmp_path}/{config.run.run_name}")
        assert type(read) is type(config) and read == config
    assert read_config(str(tmp_path / "none")) is None


def test_resume_takes_the_saved_config_and_refuses_another_jobs_run(tmp_path):
    saved = AdaptConfig(source="folder:s", target="folder:t", target_shift="fog@4",
                        run=RunOptions(storage=str(tmp_path), run_name="a"))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.json").write_text(json.dumps(dataclasses.asdict(saved)))
    asked = AdaptConfig(target=None, run=RunOptions(storage=str(tmp_path), resume="a"))
    resumed = resolve_run(asked, "adapt")
    assert resumed.target_shift == "fog@4" and resumed.run.run_name == "a"
    with pytest.raises(UsageError, match="not a finetune run"):
        resolve_run(FinetuneConfig(run=RunOptions(storage=str(tmp_path), resume="a")),
                    "finetune")
    with pytest.raises(NoInputError, match="no run 'b' to resume"):
        resolve_run(AdaptConfig(run=RunOptions(storage=str(tmp_path), resume="b")), "adapt")
