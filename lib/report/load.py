"""Finding runs and reading their metrics tables across storages and sweeps.

Each table is read as one pyarrow dataset per storage, in today's schema: columns added
since a file was written read as nulls. A file that is not Parquet, is cut short, or
comes from a newer schema version is named in a warning and left out, so one broken
file does not hide a sweep. Temp files of a run in progress (dot-names) are never listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lib.data.layout import filesystem_for
from lib.errors import NoInputError, name_some
from lib.metrics.schema import SCHEMA_VERSION, TABLES
from lib.metrics.store import MetricsStore


@dataclass(frozen=True)
class RunDir:
    name: str
    store: MetricsStore


def _is_dir(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type == pafs.FileType.Directory


def _unreadable(fs: pafs.FileSystem, path: str, table: str) -> str | None:
    """Why a metrics file cannot be read, or None."""
    try:
        schema = pq.read_schema(path, filesystem=fs)
    except (pa.ArrowInvalid, OSError) as e:
        return f"not a readable Parquet file ({str(e).splitlines()[0][:120]})"
    meta = schema.metadata or {}
    if meta.get(b"raydapt.table", b"").decode() != table:
        return "not a raydapt metrics file of this table"
    version = int(meta[b"raydapt.schema_version"])
    if version > SCHEMA_VERSION:
        return (f"schema version {version} is newer than this raydapt's ({SCHEMA_VERSION}); "
                f"upgrade raydapt to read it")
    return None


@dataclass
class Metrics:
    runs: list[RunDir]
    warnings: list[str] = field(default_factory=list)
    _files: dict = field(default_factory=dict)

    def _readable(self, table: str) -> list[tuple[pafs.FileSystem, list[str]]]:
        """Readable files of a table, grouped by storage; checked once per table."""
        if table not in self._files:
            # Each run's store has its own filesystem object: equal ones (every local run,
            # runs in one bucket) share a dataset.
            groups: list[tuple[pafs.FileSystem, list[str]]] = []
            for run in self.runs:
                fs = run.store.fs
                if not any(other.equals(fs) for other, _ in groups):
                    groups.append((fs, []))
                readable = next(files for other, files in groups if other.equals(fs))
                for path in run.store.files(table):
                    problem = _unreadable(fs, path, table)
                    if problem:
                        self.warnings.append(f"skipped {path}: {problem}")
                    else:
                        readable.append(path)
            self._files[table] = [(fs, files) for fs, files in groups if files]
        return self._files[table]

    def read(self, table: str, where: ds.Expression | None = None) -> pa.Table:
        """A table over every run found, in today's schema; `where` filters rows while
        reading (e.g. one run's embeddings without the rest of the sweep's)."""
        schema = TABLES[table]
        parts = [ds.dataset(files, schema=schema, format="parquet", filesystem=fs)
                 .to_table(filter=where)
                 for fs, files in self._readable(table)]
        return pa.concat_tables(parts) if parts else schema.empty_table()


def read_metrics(locations: list[str]) -> Metrics:
    """The runs under each location (a storage), or the location itself (a run directory)."""
    runs, warnings, seen = [], [], {}
    for location in locations:
        fs, root = filesystem_for(location)
        kind = fs.get_file_info(root).type
        if kind != pafs.FileType.Directory:
            what = "no such directory" if kind == pafs.FileType.NotFound else "not a directory"
            raise NoInputError(f"{location}: {what}")
        if _is_dir(fs, f"{root}/metrics"):
            parent, _, name = location.rstrip("/").rpartition("/")
            places = [(parent or ".", name)]
        else:
            children = fs.get_file_info(pafs.FileSelector(root))
            places = sorted((location, c.base_name) for c in children
                            if c.type == pafs.FileType.Directory
                            and _is_dir(fs, f"{c.path}/metrics"))
        for storage, name in places:
            if name in seen:
                warnings.append(f"run {name} in {storage} left out: already read from {seen[name]}")
                continue
            seen[name] = storage
            runs.append(RunDir(name, MetricsStore(storage, name)))
    if not runs:
        raise NoInputError(f"no runs in {name_some(locations)} (a run is a directory "
                           f"holding metrics/*.parquet)")
    return Metrics(runs, warnings)
