"""The feature cache's lock: a second process wanting an entry being extracted waits."""

import subprocess
import sys

import pyarrow.fs as pafs

from lib.train.features import _extracting
from tests.conftest import REPO

CHILD = """
import sys
import pyarrow.fs as pafs
from lib.train.features import _extracting
with _extracting(pafs.LocalFileSystem(), {sys.argv[1]}):
    print("locked", flush=True)
"""


def test_a_process_wanting_an_entry_being_extracted_waits_for_it(tmp_path):
    entry = str(tmp_path / "feature-cache" / "k")
    with _extracting(pafs.LocalFileSystem(), {entry}):
        child = subprocess.Popen([sys.executable, "-c", CHILD, entry], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Without the lock its first line would be "locked", while this one still holds it.
        first = child.stdout.readline()
        assert "waiting for another run extracting the same features (k)" in first, \
            first + child.stderr.read()
        assert child.poll() is None
    out, err = child.communicate(timeout=60)
    assert out.strip() == "locked" and child.returncode == 0, err
    assert (tmp_path / "feature-cache" / ".locks" / "k.lock").is_file()
