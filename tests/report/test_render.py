"""Numbers and tables as people read them."""

from lib.report.render import TextTable, duration, markdown, percent, points, spread


def test_number_formats():
    assert (percent(0.4125), points(0.081), points(-0.029), percent(None)) == \
        ("41.2", "+8.1", "-2.9", "-")
    assert (duration(131.4), duration(42), duration(None)) == ("2m11s", "42s", "-")
    assert spread(0.411, 0.0131, percent) == "41.1 ± 1.3"
    assert spread(0.081, 0.014, points) == "+8.1 ± 1.4"
    assert spread(0.6, None, percent) == "60.0"


def test_markdown_escapes_pipes_in_cells():
    text = markdown([TextTable("T", ["a", "b"], [["x|y", "1"]], "note")])
    assert text.splitlines() == ["### T", "", "| a | b |", "|---|---|", "| x\\|y | 1 |", "",
                                 "note"]
