"""`raydapt predict`: a model's predictions for every image of a dataset, labels unread,
as one Parquet file."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lib.config import PredictConfig
from lib.errors import OutputError
from lib.inference.batch import scored
from lib.inference.model import open_model
from lib.inference.plans import data_plan, described


def predict(config: PredictConfig) -> pa.Table:
    out = os.path.abspath(config.out)
    if os.path.lexists(out) and not config.overwrite:
        raise OutputError(f"--out {config.out} exists; pass --overwrite to replace it")
    if not os.path.isdir(os.path.dirname(out)):
        raise OutputError(f"--out {config.out}: no directory {os.path.dirname(out)}")
    model = open_model(config.model, config.epoch)
    meta = model.metadata
    plan = data_plan(config.data, meta, same_classes=False)  # labels are not used
    ids, _, probabilities = scored(
        model, plan, config.inference,
        f"predict {config.model} (run {meta['identity']['run']}, epoch {meta['epoch']}) on "
        f"{plan.num_rows:,} images of {described(config.data)}")
    names = meta["class_names"]
    top = probabilities.argmax(axis=1)
    root = getattr(plan.source, "root", None)  # a folder source's files
    table = pa.table({
        "example_id": pa.array(ids.tolist(), pa.string()),
        "path": pa.array([os.path.join(root, i) if root else None for i in ids], pa.string()),
        "class_id": pa.array(top, pa.int32()),
        "class_name": pa.array([names[k] for k in top], pa.string()),
        "probability": pa.array(probabilities[np.arange(len(top)), top], pa.float32()),
        "probabilities": pa.FixedSizeListArray.from_arrays(
            pa.array(probabilities.reshape(-1), pa.float32()), len(names)),
    }, metadata={"raydapt.class_names": ",".join(names),
                 "raydapt.model": config.model, "raydapt.epoch": str(meta["epoch"])})
    tmp = f"{out}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    counts = np.bincount(top, minlength=len(names))
    print(f"predicted {len(table):,} images -> {config.out}; top classes: " + ", ".join(
        f"{names[k]} {counts[k]}" for k in np.argsort(-counts)[:3]))
    return table
