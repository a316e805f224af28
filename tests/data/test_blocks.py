"""Rows handed from the driver to Ray Data a task's part at a time, and the execution
options such Datasets run with."""

import pyarrow as pa

from lib.data import blocks


def test_parts_cover_the_rows_in_order_a_task_each(ray_local, monkeypatch):
    monkeypatch.setattr(blocks, "ROWS_PER_TASK", 4)
    asked = []

    def part(start, stop):
        asked.append((start, stop))
        return pa.table({"n": list(range(start, stop))})

    ds = blocks.in_parts(10, part)
    assert asked == [(0, 4), (4, 8), (8, 10)]
    assert ds.num_blocks() == 3
    assert [r["n"] for r in ds.take_all()] == list(range(10))
    asked.clear()
    assert blocks.in_parts(0, part).count() == 0 and asked == [(0, 0)]


def test_the_execution_options_set_on_our_datasets_are_ray_datas_own():
    # Setting an attribute a dataclass no longer has succeeds silently: fail here instead
    # when Ray Data renames or drops one.
    import dataclasses

    from ray.data import DataContext, ExecutionOptions

    assert "op_resource_reservation_enabled" in {f.name for f in dataclasses.fields(DataContext)}
    assert hasattr(ExecutionOptions(), "preserve_order")
