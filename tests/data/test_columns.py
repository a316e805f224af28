import numpy as np
import pyarrow as pa
import pytest

from lib.data.columns import SCHEMA, column_to_images, images_to_column, make_table


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
