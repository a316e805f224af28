"""Writing and reading `<storage>/<run>/metrics/*.parquet` atomically.

One file per (table, epoch) and one for the run record: a resumed run that redoes an
epoch replaces that epoch's file instead of adding rows, so rows are never duplicated.
Each file is written under a dot-name that readers ignore, then renamed into place.
Only rank 0 writes.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lib.data.layout import filesystem_for
from lib.metrics.schema import SCHEMA_VERSION, TABLES


def _file_name(table: str, epoch: int | None, part: str | None = None) -> str:
    """One file per table, per (table, epoch) (epoch -1 is "before training"), or per
    (table, part): what the same part names again replaces."""
    if part is not None:
        return f"{table}-{part}.parquet"
    if epoch is None:
        return f"{table}.parquet"
    return f"{table}-start.parquet" if epoch < 0 else f"{table}-e{epoch:04d}.parquet"


class MetricsStore:
    def __init__(self, storage: str, run: str):
        self.fs, root = filesystem_for(storage)
        self.location = f"{storage.rstrip('/')}/{run}"  # the run's directory, as given
        self.dir = f"{root}/{run}/metrics"

    def write(self, table: str, rows: list[dict], epoch: int | None = None,
              part: str | None = None) -> str:
        data = pa.Table.from_pylist(rows, schema=TABLES[table])
        self.fs.create_dir(self.dir, recursive=True)
        final = f"{self.dir}/{_file_name(table, epoch, part)}"
        tmp = f"{self.dir}/.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with self.fs.open_output_stream(tmp) as f:
                pq.write_table(data, f)
            self.fs.move(tmp, final)
        except BaseException:
            if self.fs.get_file_info(tmp).type != pafs.FileType.NotFound:
                self.fs.delete_file(tmp)
            raise
        return final

    def files(self, table: str) -> list[str]:
        selector = pafs.FileSelector(self.dir, allow_not_found=True)
        return sorted(i.path for i in self.fs.get_file_info(selector)
                      if i.type == pafs.FileType.File and not i.base_name.startswith(".")
                      and (i.base_name == f"{table}.parquet"
                           or i.base_name.startswith(f"{table}-")))

    def read(self, table: str) -> pa.Table:
        """All finished files of a table (temp files are never listed)."""
        parts = [pq.read_table(p, filesystem=self.fs) for p in self.files(table)]
        parts = [p for p in parts
                 if int(p.schema.metadata[b"raydapt.schema_version"]) <= SCHEMA_VERSION]
        if not parts:
            return TABLES[table].empty_table()
        return pa.concat_tables([_upgrade(p, TABLES[table]) for p in parts])


def _upgrade(part: pa.Table, schema: pa.Schema) -> pa.Table:
    """An older file in today's schema: columns added since then read as nulls."""
    for f in schema:
        if f.name not in part.column_names:
            part = part.append_column(f.name, pa.nulls(len(part), f.type))
    return part.select(schema.names).cast(schema)
