"""The bench job on a tiny subset: the parts asked for, measured and recorded."""

from lib.bench import bench
from lib.config import BenchConfig
from lib.metrics.store import MetricsStore
from tests.jobs.test_prepare_cli import assert_fails, run


def test_adaptation_steps_alone_are_measured_and_recorded(cifar_jpeg, tmp_path, capfd):
    rows = bench(BenchConfig(source=f"folder:{cifar_jpeg}/train", images=40, batch_size=8,
                             only="adapt", methods="dann,source-only", storage=str(tmp_path),
                             run_name="b"))
    assert [r["name"].split(",")[0] for r in rows] == ["fp32 matmul peak (2048x2048)",
                                                       "dann step", "source-only step"]
    dann, source_only = rows[1:]
    assert dann["images_per_s"] > 0 and dann["batch_size"] == 8
    # Both domains' images count, each through forward and backward of the whole VGG16;
    # source-only feeds its 4 source images alone.
    assert dann["gflop_per_image"] > 1.8 and "4 source + 4 target" in dann["note"]
    assert source_only["batch_size"] == 4 and "4 source images" in source_only["note"]
    assert "1.00x dann's" in dann["note"] and "x dann's images/s" in source_only["note"]
    assert 0 < dann["mfu"] == dann["achieved_gflops"] / dann["peak_gflops"]
    assert MetricsStore(str(tmp_path), "b").read("bench").num_rows == 3
    # The console: a header, a line per measurement, the table; Ray's output in the log.
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].startswith("bench b on ") and lines[0].endswith(f"{tmp_path}/b/logs/driver.log")
    assert [x.split(":")[0].strip() for x in lines[1:4]] == [
        "fp32 matmul peak (2048x2048)", "dann step, whole backbone training (driver, no Ray)",
        "source-only step, whole backbone training (driver, no Ray)"]
    assert "raydapt bench on" in lines[4] and len(lines) < 20
    assert (tmp_path / "b" / "logs" / "driver.log").exists()  # empty if Ray was up already


def test_unknown_part_is_a_usage_error(tmp_path):
    assert_fails(run("--only", "adapt,warp", "--storage", tmp_path, entry=("-m", "jobs.bench")),
                 2, "--only")
