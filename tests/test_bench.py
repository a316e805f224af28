"""The bench job on a tiny subset: the parts asked for, measured and recorded."""

from lib.bench import bench
from lib.config import BenchConfig
from lib.metrics.store import MetricsStore
from tests.jobs.test_prepare_cli import assert_fails, run


def test_dann_step_alone_is_measured_and_recorded(cifar_jpeg, tmp_path):
    rows = bench(BenchConfig(source=f"folder:{cifar_jpeg}/train", images=40, batch_size=8,
                             only="dann", storage=str(tmp_path), run_name="b"))
    assert [r["name"].split(",")[0] for r in rows] == ["fp32 matmul peak (2048x2048)",
                                                       "DANN step"]
    dann = rows[1]
    assert dann["images_per_s"] > 0 and dann["batch_size"] == 8
    # Both domains' images count, each through forward and backward of the whole VGG16.
    assert dann["gflop_per_image"] > 1.8 and "4 source + 4 target" in dann["note"]
    assert 0 < dann["mfu"] == dann["achieved_gflops"] / dann["peak_gflops"]
    assert MetricsStore(str(tmp_path), "b").read("bench").num_rows == 2


def test_unknown_part_is_a_usage_error(tmp_path):
    assert_fails(run("--only", "dann,warp", "--storage", tmp_path, entry=("-m", "jobs.bench")),
                 2, "--only")
