"""A folder source decoded and checked in Ray Data tasks: the check's arithmetic on
hand-made tallies, each file's description, and the whole path through Ray with the bad
files spread over several tasks."""

import numpy as np
import pytest
from PIL import Image

import lib.data.folder as folder_module
from lib.data import blocks
from lib.data.folder import FolderSource, check_tallies, decode_file, tally
from lib.data.uri import parse_uri
from lib.errors import DataError

URI = parse_uri("folder:/data")


def block(*rows):
    """A decoded block's check columns from (position, example id, description) rows."""
    import pyarrow as pa

    return pa.table({"position": [p for p, _, _ in rows], "example_id": [i for _, i, _ in rows],
                     "described": [d for _, _, d in rows]})


def test_tally_counts_each_description_and_keeps_its_first_three():
    rows = tally(block(*[(p, f"a/{p}", "32x32 RGB") for p in range(5)],
                       (5, "b/5", "32x32 L"))).to_pylist()
    assert rows == [{"described": "32x32 RGB", "count": 5, "positions": [0, 1, 2],
                     "example_ids": ["a/0", "a/1", "a/2"]},
                    {"described": "32x32 L", "count": 1, "positions": [5],
                     "example_ids": ["b/5"]}]


def test_the_first_bad_files_in_listing_order_across_blocks_and_the_count_of_all():
    # Two tasks' blocks, returned in the wrong order: block two holds the earlier rows.
    later = block((10, "c/10", "32x32 RGB"), (11, "c/11", "28x28 RGB"), (12, "c/12", "empty file"),
                  (13, "c/13", "28x28 RGB"), (14, "c/14", "28x28 RGB"))
    earlier = block((0, "a/0", "32x32 RGB"), (1, "a/1", "32x32 RGB"), (2, "a/2", "32x32 RGB"),
                    (3, "a/3", "undecodable (OSError: truncated)"), (4, "a/4", "32x32 RGB"))
    tallies = tally(later).to_pylist() + tally(earlier).to_pylist()
    with pytest.raises(DataError) as e:
        check_tallies(tallies, URI)
    assert str(e.value) == ("folder:/data: 5 bad image(s): a/3: undecodable (OSError: truncated), "
                            "c/11: 28x28 RGB, expected 32x32 RGB, c/12: empty file (+2 more)")


def test_the_size_most_images_have_is_the_expected_one_and_gives_the_shape():
    tallies = tally(block(*[(p, f"a/{p}", "48x40 RGB") for p in range(3)])).to_pylist()
    assert check_tallies(tallies, URI) == (40, 48, 3)  # WxH in the description, HxW out
    with pytest.raises(DataError, match=r"1 bad image\(s\): b/3: 32x32 RGB, expected 48x40 RGB$"):
        check_tallies(tallies + tally(block((3, "b/3", "32x32 RGB"))).to_pylist(), URI)


def test_no_rgb_image_names_the_first_file():
    tallies = tally(block((1, "a/1", "32x32 L"), (0, "a/0", "empty file"))).to_pylist()
    with pytest.raises(DataError, match="no RGB image decodes, e.g. a/0: empty file"):
        check_tallies(tallies, URI)


def test_each_file_is_described_by_what_is_wrong_with_it(tmp_path):
    Image.new("RGB", (30, 20)).save(tmp_path / "ok.png")
    pixels, described = decode_file(str(tmp_path / "ok.png"))
    assert described == "30x20 RGB" and pixels.shape == (20, 30, 3)
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert decode_file(str(tmp_path / "empty.jpg")) == (None, "empty file")
    (tmp_path / "text.jpg").write_bytes(b"not a jpeg")
    assert decode_file(str(tmp_path / "text.jpg"))[1].startswith("undecodable (")
    assert decode_file(str(tmp_path / "gone.jpg"))[1].startswith("not found on node ")


def test_bad_files_spread_over_tasks_are_found_by_ray_not_by_the_driver(small_folder, ray_local,
                                                                        monkeypatch):
    # Seven files a task: the 40 files are 6 tasks, the bad ones in several of them.
    monkeypatch.setattr(blocks, "ROWS_PER_TASK", 7)

    def decoded_on_the_driver(path):
        raise AssertionError(f"the driver decoded {path}")

    monkeypatch.setattr(folder_module, "decode_file", decoded_on_the_driver)
    for name in ("airplane/0003.jpg", "cat/0001.jpg", "horse/0002.jpg", "truck/0000.jpg"):
        (small_folder / name).write_bytes(b"")
    Image.new("RGB", (28, 28)).save(small_folder / "deer/0001.jpg")
    src = FolderSource(parse_uri(f"folder:{small_folder}"))
    with pytest.raises(DataError) as e:
        src.read(np.arange(len(src.example_ids)))
    assert str(e.value).endswith(": 5 bad image(s): airplane/0003.jpg: empty file, cat/0001.jpg: "
                                 "empty file, deer/0001.jpg: 28x28 RGB, expected 32x32 RGB "
                                 "(+2 more)")


def test_rows_come_in_listing_order_with_the_schema_and_the_shape(small_folder, ray_local,
                                                                  monkeypatch):
    monkeypatch.setattr(blocks, "ROWS_PER_TASK", 7)
    src = FolderSource(parse_uri(f"folder:{small_folder}"))
    chosen = np.arange(0, 40, 3)
    ds, shape = src.read(chosen)
    rows = ds.take_all()
    assert shape == (32, 32, 3) and src.image_shape(chosen) == shape
    assert [r["example_id"] for r in rows] == [src.example_ids[i] for i in chosen]
    assert list(rows[0]) == ["example_id", "label", "class_name", "image"]
    expected = np.asarray(Image.open(small_folder / rows[-1]["example_id"]))
    np.testing.assert_array_equal(np.frombuffer(rows[-1]["image"], np.uint8).reshape(shape),
                                  expected)
