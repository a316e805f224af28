"""`raydapt prepare`: decode a dataset once into sharded Parquet plus manifest.json.

The manifest is written last, by rename, and is what makes the directory a dataset:
readers never see a half-written one. The same inputs again are a no-op (the manifest's
`inputs_key` matches); different inputs into a used directory need --overwrite.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pyarrow.fs as pafs

from lib.config import PrepareConfig
from lib.console import captured, duration, undoing
from lib.data.classes import parse_class_list
from lib.data.images import content_checksum, plan_images
from lib.data.layout import commit_dataset, filesystem_for, list_parquet_files, read_manifest
from lib.data.shifts import parse_shift
from lib.data.uri import parse_uri
from lib.errors import DataError, NoInputError, OutputError
from lib.runtime import ray_up

SCHEMA_VERSION = 1


def prepare(config: PrepareConfig) -> dict:
    """Write the dataset and return its manifest (the existing one when nothing changed)."""
    sel = config.data
    shift = parse_shift(config.target_shift) if config.target_shift else None
    plan = plan_images(parse_uri(config.source), shift, limit_per_class=sel.limit_per_class,
                       classes=parse_class_list(sel.classes), seed=sel.seed,
                       image_size=sel.image_size)
    fs, root = filesystem_for(config.out)
    try:
        existing = read_manifest(fs, root)
    except DataError:
        if not config.overwrite:
            raise
        existing = None  # replaced below, whatever it is
    if existing and existing.get("inputs_key") == plan.key and list_parquet_files(fs, root):
        print(f"{config.out} is up to date ({existing['num_rows']} rows); nothing to do")
        return existing
    used = [i for i in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
            if i.base_name != "logs"]  # a failed attempt's log does not make it used
    if used and not config.overwrite:
        what = "a different dataset" if existing else "files that are not a raydapt dataset"
        raise OutputError(f"{config.out} already holds {what}; pass --overwrite to replace it")

    shift = f" under {config.target_shift}" if config.target_shift else ""
    undo = undoing(f"{config.out}/logs")
    try:
        with captured(f"{config.out}/logs", config.verbose) as (console, log):
            console.line(f"prepare: {plan.num_rows:,} images of {len(plan.class_names)} classes "
                         f"from {config.source}{shift} -> {config.out}; Ray's output in {log}")
            started = time.perf_counter()
            with ray_up():
                plan.preflight()  # folder images are decoded and checked in Ray Data tasks
                manifest, num_files = _write(plan, config, fs, root)
            shape = manifest["image_shape"]
            console.line(f"wrote {plan.num_rows:,} rows of {shape[0]}x{shape[1]}x{shape[2]} "
                         f"images in {num_files} file(s) in "
                         f"{duration(time.perf_counter() - started)}")
    except (DataError, NoInputError):
        undo()  # bad input leaves nothing under --out, not even this attempt's log
        raise
    return manifest


def _write(plan, config: PrepareConfig, fs, root: str) -> tuple[dict, int]:
    """Load through Ray Data, write the Parquet files staged, then commit the manifest.
    (manifest, number of files)."""
    ds, shape = plan.load()
    ds = ds.materialize()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "source": config.source,
        "target_shift": config.target_shift,
        "seed": config.data.seed,
        "limit_per_class": config.data.limit_per_class,
        "class_names": list(plan.class_names),
        "counts_per_class": plan.counts,
        "num_rows": plan.num_rows,
        "image_shape": list(shape),
        "content_checksum": content_checksum(ds),
        "inputs_key": plan.key,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    staging = f"{root}/.staging-{uuid.uuid4().hex[:8]}"
    num_files = max(1, -(-plan.num_rows // config.rows_per_file))
    ds.repartition(num_files).write_parquet(staging, filesystem=fs)
    commit_dataset(fs, root, staging, manifest)
    return manifest, num_files
