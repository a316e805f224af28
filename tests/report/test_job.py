"""`raydapt report` from the command line: every format, one run in depth, figures, the
page, bench tables, and the errors a user meets."""

import base64
import csv
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from lib.metrics.store import MetricsStore
from lib.report.summary import GROUP_COLUMNS, RUN_COLUMNS
from lib.report.views import EPOCH_FIELDS
from tests.conftest import REPO
from tests.report.sweep import write_adapt_run, write_sweep

PNG = b"\x89PNG\r\n\x1a\n"


def report(*args, ok=True):
    result = subprocess.run([sys.executable, "-m", "jobs.report", *map(str, args)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweep")
    write_sweep(storage)
    return storage


def test_table_shows_every_run_and_marks_the_oracle(sweep):
    out = report(sweep).stdout
    for run in ("source-only-s0", "dann-s1", "oracle-s1", "ft"):
        assert run in out
    assert "oracle*" in out and "oracle: trained on target labels" in out
    assert "44.0 (e1)" in out and "+12.0" in out  # dann-s1: target accuracy and gain


def test_csv_has_the_documented_columns_and_raw_values(sweep):
    rows = list(csv.DictReader(io.StringIO(report(sweep, "--format", "csv").stdout)))
    assert list(rows[0]) == list(RUN_COLUMNS)
    dann = next(r for r in rows if r["run"] == "dann-s1")
    assert float(dann["target_accuracy"]) == pytest.approx(0.44)
    assert float(dann["gain"]) == pytest.approx(0.12)
    assert dann["oracle"] == "False" and dann["shift"] == "fog@4"
    assert next(r for r in rows if r["run"] == "ft")["target_accuracy"] == ""


def test_json_is_a_list_of_objects_with_the_same_columns(sweep):
    rows = json.loads(report(sweep, "--format", "json").stdout)
    assert [list(r) for r in rows] == [list(RUN_COLUMNS)] * 7
    assert {r["run"]: r["selected_epoch"] for r in rows}["oracle-s0"] == 1


def test_markdown_is_a_pipe_table(sweep):
    out = report(sweep, "--format", "markdown").stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| run | job | method |") and lines[1].startswith("|---|")
    assert len(lines) == 2 + 7


def test_seed_means_in_csv(sweep):
    rows = list(csv.DictReader(io.StringIO(
        report(sweep, "--seeds", "mean", "--method", "dann", "--format", "csv").stdout)))
    assert list(rows[0]) == list(GROUP_COLUMNS) and len(rows) == 1
    assert rows[0]["runs"] == "2" and rows[0]["seeds"] == "0,1"
    assert float(rows[0]["target_accuracy_mean"]) == pytest.approx(0.42)
    out = report(sweep, "--seeds", "mean").stdout
    assert "42.0 ± 2.8" in out  # dann: mean ± sample std in %


def test_filters_from_the_command_line(sweep):
    rows = json.loads(report(sweep, "--format", "json", "--match", "*-s0", "--job", "adapt")
                      .stdout)
    assert sorted(r["run"] for r in rows) == ["dann-s0", "oracle-s0", "source-only-s0"]


def test_one_run_in_depth(sweep):
    out = report(sweep, "--run", "dann-s0").stdout
    for heading in ("Run dann-s0", "Epochs", "Selection", "Per-class accuracy (%), epoch 1",
                    "Confusion, source_val", "Confusion, target_test", "Config"):
        assert heading in out
    assert "[fog@4]" in out  # data with brackets prints as it is
    assert "adapt.method" in out and "automobile" in out
    rows = list(csv.DictReader(io.StringIO(report(sweep, "--run", "dann-s0", "--format", "csv")
                                           .stdout)))
    # The method's own terms, whatever it names them, as columns after the common fields.
    assert list(rows[0]) == [*EPOCH_FIELDS, "domain_accuracy", "domain_loss", "grl_lambda",
                             "accuracy_source_val", "accuracy_target_test", "a_distance"]
    assert [float(r["accuracy_target_test"]) for r in rows] == [0.2, 0.4]
    assert [float(r["domain_loss"]) for r in rows] == [0.6, 0.6]


def test_plots_and_html_page(sweep, tmp_path):
    plots, page = tmp_path / "plots", tmp_path / "report.html"
    result = report(sweep, "--method", "dann", "--plots", plots, "--html", page)
    assert "wrote 5 figures" in result.stderr  # dann-s0 has an embedding sample, s1 not
    written = sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*.png"))
    assert written == ["dann-s0/confusion.png", "dann-s0/curves.png", "dann-s0/embedding.png",
                       "dann-s1/confusion.png", "dann-s1/curves.png"]
    for png in plots.rglob("*.png"):
        assert png.read_bytes().startswith(PNG) and png.stat().st_size > 10_000
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    structure = PageStructure()
    structure.feed(html)
    # The summary table: a row per reported run, its name linking to the run's figures.
    header, *rows = structure.tables[0]
    assert [row[0][0] for row in rows] == ["dann-s0", "dann-s1"]
    # Numbers right-aligned, so a column's digits line up; names are not numbers.
    for column in ("source acc", "gain", "epochs", "wall"):
        at = [text for text, _ in header].index(column)
        assert {row[at][1] for row in rows if row[at][0] != "-"} == {"num"}, column
    assert {row[1][1] for row in rows} == {""}  # the job column
    assert structure.links == ["#run-dann-s0", "#run-dann-s1"] + ["#top"] * 2
    assert {link[1:] for link in structure.links} <= structure.ids  # every link lands
    # Every figure embedded and decodable, in its run's section.
    assert [(section, alt) for section, alt, _ in structure.images] == [
        ("run-dann-s0", "dann-s0 curves"), ("run-dann-s0", "dann-s0 confusion"),
        ("run-dann-s0", "dann-s0 embedding"), ("run-dann-s1", "dann-s1 curves"),
        ("run-dann-s1", "dann-s1 confusion")]
    for _, _, src in structure.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        assert image.format == "PNG" and image.width > 300


class PageStructure(HTMLParser):
    """Tables (rows of (text, class) cells), link targets, ids, and images with their
    section."""

    def __init__(self):
        super().__init__()
        self.tables, self.links, self.ids, self.images = [], [], set(), []
        self.section, self.cell = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = ["", attrs.get("class", "")]
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "section":
            self.section = attrs["id"]
        elif tag == "img":
            self.images.append((self.section, attrs["alt"], attrs["src"]))

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(tuple(self.cell))
            self.cell = None
        elif tag == "section":
            self.section = None


def test_bench_tables(tmp_path):
    MetricsStore(str(tmp_path), "bench-a").write("bench", [{
        "run": "bench-a", "machine": "host, cpu, 2 cores", "name": "full fine-tuning",
        "precision": "fp32", "workers": 1, "batch_size": 128, "images_per_s": 70.5,
        "gflop_per_image": 1.88, "achieved_gflops": 132.5, "peak_gflops": 220.0, "mfu": 0.6,
        "seconds": 36.3, "note": ""}])
    write_adapt_run(tmp_path, "r", "dann", 0, [0.3])
    assert "bench-a" not in report(tmp_path).stdout  # bench runs have no summary row
    out = report(tmp_path, "--job", "bench").stdout
    assert "full fine-tuning" in out and "70.5" in out and "host, cpu, 2 cores" in out
    rows = json.loads(report(tmp_path, "--job", "bench", "--format", "json").stdout)
    assert rows[0]["mfu"] == 0.6


def test_a_broken_file_is_a_warning_and_the_run_still_shows(tmp_path):
    write_adapt_run(tmp_path, "r", "dann", 0, [0.3, 0.4])
    broken = tmp_path / "r" / "metrics" / "epochs-e0000.parquet"
    broken.write_bytes(broken.read_bytes()[:100])
    result = report(tmp_path, "--format", "csv")
    assert f"warning: skipped {broken}: not a readable Parquet file" in result.stderr
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["run"] == "r" and row["epochs"] == "1"


def test_a_run_in_progress_shows_as_running(tmp_path):
    write_adapt_run(tmp_path, "live", "dann", 0, [0.3], finished=False)
    (tmp_path / "live" / "metrics" / ".5f3a9c1e.tmp").write_bytes(b"PAR1 half a file")
    result = report(tmp_path, "--format", "json")
    assert json.loads(result.stdout)[0]["status"] == "running" and not result.stderr


@pytest.mark.parametrize("args, code, message", [
    (["{tmp}/nowhere"], 66, "error: {tmp}/nowhere: no such directory"),
    (["{tmp}/empty"], 66, "error: no runs in {tmp}/empty"),
    (["{tmp}/runs", "--run", "nope"], 66, "error: --run nope: no such run"),
    (["{tmp}/runs", "--method", "nope"], 66, "error: no run matches the filters (1 runs found"),
    (["{tmp}/runs", "--format", "xml"], 2, "--format 'xml': use one of table, csv, json, "
                                           "markdown"),
    (["{tmp}/runs", "--selection", "best"], 2, "--selection 'best': use one of"),
])
def test_errors_are_one_line_with_their_exit_code(tmp_path, args, code, message):
    (tmp_path / "empty").mkdir()
    write_adapt_run(tmp_path / "runs", "r", "dann", 0, [0.3])
    result = report(*(a.format(tmp=tmp_path) for a in args), ok=False)
    assert result.returncode == code
    assert message.format(tmp=tmp_path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout


@pytest.mark.parametrize("entry", [[str(Path(sys.executable).parent / "raydapt"), "report"],
                                   [sys.executable, "-m", "typer", "jobs", "run", "report"]])
def test_other_entry_points(sweep, entry):
    result = subprocess.run([*entry, str(sweep), "--format", "json", "--match", "ft"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [r["run"] for r in json.loads(result.stdout)] == ["ft"]
