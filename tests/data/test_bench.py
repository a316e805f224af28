"""The bench's prepare part: the linked folder is the folder N times over, and the part
measures what it says on real prepares."""

import json

import pytest

from lib.data.bench import COPIES, linked_copies


def test_linked_copies_repeat_every_file_under_new_names(small_folder, tmp_path):
    assert linked_copies(str(small_folder), 3, str(tmp_path / "x3")) == 120
    cats = sorted(p.name for p in (tmp_path / "x3" / "cat").iterdir())
    assert cats[:4] == ["0-0000.jpg", "0-0001.jpg", "0-0002.jpg", "0-0003.jpg"] and len(cats) == 12
    linked = tmp_path / "x3" / "cat" / "2-0003.jpg"
    assert linked.read_bytes() == (small_folder / "cat" / "0003.jpg").read_bytes()


@pytest.mark.slow
def test_the_prepare_part_measures_both_sizes_and_both_cpu_counts(small_folder, tmp_path):
    # In a process of its own: the part starts its own Rays, and the tests' may be up.
    import subprocess
    import sys

    from lib.measurement import Measurement
    from tests.conftest import REPO

    code = ("import dataclasses, json, sys; from lib.data.bench import prepare_scaling; "
            "print(json.dumps([dataclasses.asdict(m) for m in prepare_scaling(*sys.argv[1:2], "
            "4, sys.argv[2])]))")
    done = subprocess.run([sys.executable, "-c", code, f"folder:{small_folder}", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    small, large, one, two = (Measurement(**m) for m in measured)
    assert small.name == "prepare: 40 images, driver peak memory"
    assert large.name == f"prepare: {40 * COPIES} images ({COPIES}x, linked), driver peak memory"
    assert "max RSS" in small.note and "over 40 images" in large.note
    assert json.loads((tmp_path / f"x{COPIES}" / "manifest.json").read_text())["num_rows"] == 160
    assert one.name == "prepare: a local Ray of 1 CPU(s), Ray started" and one.images_per_s > 0
    assert f"{two.images_per_s / one.images_per_s:.2f}x 1 CPU's" in two.note
