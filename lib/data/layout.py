"""Where things live on a filesystem: a dataset directory (manifest.json + data/*.parquet)
on a local path or any pyarrow filesystem URI, and how one is swapped in safely."""

from __future__ import annotations

import json
import os

import pyarrow.fs as pafs

MANIFEST = "manifest.json"
DATA_DIR = "data"


def filesystem_for(path: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it, for a local path or a URI like s3://b/k."""
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), os.path.abspath(path)


def read_manifest(fs: pafs.FileSystem, root: str, required: tuple[str, ...] = ()) -> dict | None:
    """The dataset's manifest, None if there is none; DataError if it is not one."""
    return read_json_if_any(fs, f"{root}/{MANIFEST}", required)


def read_json(fs: pafs.FileSystem, path: str, required: tuple[str, ...] = ()) -> dict:
    """A JSON object we wrote (a manifest, a run's config); one line naming the file when
    it was cut short or edited into something else."""
    from lib.errors import DataError

    with fs.open_input_stream(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is corrupt: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} is corrupt: a JSON {type(data).__name__}, not an object")
    missing = [key for key in required if key not in data]
    if missing:
        raise DataError(f"{path} is corrupt: no {', '.join(missing)}")
    return data


def read_json_if_any(fs: pafs.FileSystem, path: str, required: tuple[str, ...] = ()) -> dict | None:
    """read_json, or None when there is no such file."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    return read_json(fs, path, required)


def write_json(fs: pafs.FileSystem, path: str, data: dict, *, indent: int | None = None,
               tmp: str | None = None) -> None:
    """Under a temp name (`path`.tmp unless given), then renamed: a reader sees the old file
    or the new one."""
    tmp = tmp or f"{path}.tmp"
    with fs.open_output_stream(tmp) as f:
        f.write(json.dumps(data, indent=indent).encode())
    fs.move(tmp, path)


def list_parquet_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """Data files under root/data; names starting with '.' or '_' are temp files, ignored."""
    selector = pafs.FileSelector(f"{root}/{DATA_DIR}", allow_not_found=True)
    return sorted(i.path for i in fs.get_file_info(selector)
                  if i.type == pafs.FileType.File and not i.base_name.startswith((".", "_")))


def commit_dataset(fs: pafs.FileSystem, root: str, staging: str, manifest: dict) -> None:
    """Swap the staged files in. The manifest goes first and comes back last, so a reader
    sees the old dataset, no dataset, or the new one: never a mix."""
    if fs.get_file_info(f"{root}/{MANIFEST}").type == pafs.FileType.File:
        fs.delete_file(f"{root}/{MANIFEST}")
    if fs.get_file_info(f"{root}/{DATA_DIR}").type != pafs.FileType.NotFound:
        fs.delete_dir(f"{root}/{DATA_DIR}")
    fs.move(staging, f"{root}/{DATA_DIR}")
    manifest["files"] = [p.rsplit("/", 1)[-1] for p in list_parquet_files(fs, root)]
    write_json(fs, f"{root}/{MANIFEST}", manifest, indent=2, tmp=f"{root}/.{MANIFEST}.tmp")


def write_run_json(storage: str, run: str, name: str, data: dict) -> None:
    """`<run>/<name>`, by rename: a reader sees the old file or the new one."""
    fs, root = filesystem_for(storage)
    write_json(fs, f"{root}/{run}/{name}", data)


def read_run_json(storage: str, run: str, name: str, take: bool = False) -> dict | None:
    """`<run>/<name>`, None when there is none. `take`: removed once read, for what the
    workers leave the driver (a --resume starts clean)."""
    fs, root = filesystem_for(storage)
    found = read_json_if_any(fs, f"{root}/{run}/{name}")
    if take and found is not None:
        fs.delete_file(f"{root}/{run}/{name}")
    return found
