import numpy as np
import pyarrow as pa
import pytest

from lib.data.columns import SCHEMA, Names, column_to_images, images_to_column, listing, make_table


def test_images_round_trip_through_a_chunked_column():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 4, 5, 3), dtype=np.uint8)
    column = pa.chunked_array([images_to_column(images[:3]), images_to_column(images[3:])])
    np.testing.assert_array_equal(column_to_images(column, (4, 5, 3)), images)
    np.testing.assert_array_equal(column_to_images(column.combine_chunks().slice(2), (4, 5, 3)),
                                  images[2:])


def test_wrong_sized_value_is_refused():
    column = pa.array([b"\0" * 60, b"\0" * 59], pa.binary())
    with pytest.raises(pa.ArrowInvalid):
        column_to_images(column, (4, 5, 3))


def test_table_matches_schema():
    table = make_table(["a", "b"], [1, 0], ("x", "y"), np.zeros((2, 2, 2, 3), np.uint8))
    assert table.schema == SCHEMA
    assert table.column("class_name").to_pylist() == ["y", "x"]


def test_a_listing_from_an_arrow_array_is_the_listing_from_strings():
    ids = ["cat/1.jpg", "dog/2.jpg", "cat/3.jpg"]
    from_strings = listing(ids, [1, 2, 1], ("bird", "cat", "dog"))
    assert listing(pa.array(ids), np.array([1, 2, 1]), ("bird", "cat", "dog")).equals(from_strings)
    assert from_strings.column("class_name").to_pylist() == ["cat", "dog", "cat"]


def test_names_read_as_a_tuple_of_strings():
    names = Names(pa.array([f"n{i}" for i in range(70_000)]))  # more than one chunk of iter
    assert len(names) == 70_000 and names[3] == "n3" and names[-1] == "n69999"
    assert names[1:3] == ("n1", "n2")
    assert list(names) == [f"n{i}" for i in range(70_000)]
    assert names.take(np.array([5, 0])).to_pylist() == ["n5", "n0"]
