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


def test_checksum_is_the_row_digests_summed_mod_2_256_with_the_count(ray_local):
    import hashlib

    import pyarrow as pa
    import ray

    def table(ids, labels, images):
        return pa.table({"example_id": ids, "label": pa.array(labels, pa.int16()),
                         "image": pa.array(images, pa.binary())})

    def digest(example_id, label, image):
        return int.from_bytes(hashlib.sha256(f"{example_id}\0{label}\0".encode() + image)
                              .digest(), "big")

    rows = table(["a", "b"], [0, 1], [b"\x01", b"\x02"])
    total = (digest("a", 0, b"\x01") + digest("b", 1, b"\x02")) % 2 ** 256
    expected = hashlib.sha256(b"rows 2 sum " + total.to_bytes(32, "big")).hexdigest()
    assert content_checksum(ray.data.from_arrow(rows)) == expected
    assert content_checksum(ray.data.from_arrow([rows.slice(1), rows.slice(0, 1)])) == expected
    # A repeated row counts twice: two copies of one row are not two copies of another (an
    # XOR of digests would give zero for both).
    same_twice = [table(["a", "a"], [0, 0], [b"\x01"] * 2), table(["b", "b"], [1, 1], [b"\x02"] * 2)]
    assert len({content_checksum(ray.data.from_arrow(t)) for t in same_twice}) == 2


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
