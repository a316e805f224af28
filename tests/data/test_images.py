import numpy as np
import pytest

from lib.data.images import content_checksum, plan_images
from lib.data.shifts import Shift
from lib.data.sources import FolderSource
from lib.data.uri import parse_uri
from lib.errors import DataError


def plan(path, shift=None, **kw):
    options = {"limit_per_class": None, "classes": None, "seed": 0, "image_size": 32} | kw
    return plan_images(parse_uri(f"folder:{path}"), shift, **options)


def test_limit_per_class_takes_the_first_files(small_folder):
    p = plan(small_folder, limit_per_class=2)
    ids = [p.source.example_ids[i] for i in p.indices]
    assert len(ids) == 20 and ids[:3] == ["airplane/0000.jpg", "airplane/0001.jpg",
                                          "automobile/0000.jpg"]
    assert p.counts == dict.fromkeys(p.class_names, 2)


def test_classes_select_and_relabel(small_folder, ray_local):
    p = plan(small_folder, classes=("truck", "cat"))
    assert p.class_names == ("cat", "truck") and p.num_rows == 8
    rows = p.load()[0].take_all()
    assert {(r["class_name"], r["label"]) for r in rows} == {("cat", 0), ("truck", 1)}
    with pytest.raises(DataError, match="has no class monkey"):
        plan(small_folder, classes=("cat", "monkey"))


def test_key_tracks_every_input(small_folder):
    base = plan(small_folder).key
    assert plan(small_folder).key == base
    assert plan(small_folder, limit_per_class=3).key != base
    assert plan(small_folder, shift=Shift("fog", 2)).key != base
    assert plan(small_folder, shift=Shift("fog", 2), seed=1).key != plan(
        small_folder, shift=Shift("fog", 2)).key
    (small_folder / "cat/0000.jpg").write_bytes((small_folder / "dog/0000.jpg").read_bytes())
    assert plan(small_folder).key != base


def test_shift_inside_the_pipeline_equals_the_transform_alone(small_folder, ray_local):
    shift = Shift("motion_blur", 4)
    p = plan(small_folder, shift=shift, seed=3)
    ds, shape = p.load()
    rows = sorted(ds.take_all(), key=lambda r: r["example_id"])
    got = np.stack([np.frombuffer(r["image"], np.uint8).reshape(shape) for r in rows])
    clean, _ = FolderSource(parse_uri(f"folder:{small_folder}")).read(p.indices)
    clean_rows = sorted(clean.take_all(), key=lambda r: r["example_id"])
    ids = [r["example_id"] for r in clean_rows]
    raw = np.stack([np.frombuffer(r["image"], np.uint8).reshape(shape) for r in clean_rows])
    np.testing.assert_array_equal(got, shift.apply(raw, ids, seed=3))


def test_checksum_ignores_blocking_but_not_content(small_folder, ray_local):
    ds, _ = plan(small_folder).load()
    assert content_checksum(ds) == content_checksum(ds.repartition(7))
    assert content_checksum(ds) != content_checksum(plan(small_folder, limit_per_class=3).load()[0])


def test_identity_names_the_rows_without_loading_them(small_folder):
    from lib.data.shifts import parse_shift

    def identity(shift=None, **kw):
        options = {"limit_per_class": None, "classes": None, "seed": 0, "image_size": 32} | kw
        return plan_images(parse_uri(f"folder:{small_folder}"), shift, **options).identity()

    base = identity()
    assert identity() == base
    variants = [identity(limit_per_class=3), identity(part=(1, 2)), identity(image_size=64),
                identity(parse_shift("fog@4")), identity(parse_shift("fog@4"), seed=1)]
    assert len({base, *variants}) == 6
    (small_folder / "cat/0000.jpg").write_bytes((small_folder / "dog/0000.jpg").read_bytes())
    assert identity() != base  # a replaced file is new data
