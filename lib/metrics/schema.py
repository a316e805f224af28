"""Declared schemas of the metrics tables. Bump SCHEMA_VERSION on any incompatible change;
readers skip files from a newer version instead of misreading them."""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 3  # 2: reads_target_labels, snd, dev; domain_distance, selection. 3: terms

# Every row says which run, job, method, epoch and scale it belongs to, so a table read
# on its own (or a sweep concatenated) needs no join to be understood.
_IDENTITY = [
    ("run", pa.string()),
    ("job", pa.string()),
    ("method", pa.string()),
    ("reads_target_labels", pa.bool_()),  # true only for oracle runs: never a real result
    ("config_hash", pa.string()),
    ("workers", pa.int32()),
    ("replicas", pa.int32()),
]


def _schema(name: str, fields) -> pa.Schema:
    return pa.schema(fields, metadata={"raydapt.table": name,
                                       "raydapt.schema_version": str(SCHEMA_VERSION)})


EPOCHS = _schema("epochs", [
    *_IDENTITY,
    ("epoch", pa.int32()),            # 0-based
    ("loss", pa.float64()),           # mean training loss (classification; source for adapt)
    ("accuracy", pa.float64()),       # training accuracy on the batches seen
    ("images_per_s", pa.float64()),   # all workers together, images through the model
    ("epoch_seconds", pa.float64()),
    ("learning_rate", pa.float64()),
    # adapt: the method's own terms, each its epoch mean (dann: domain_loss, domain_accuracy,
    # grl_lambda; mdd: source_disparity...); finetune: null
    ("terms", pa.map_(pa.string(), pa.float64())),
    ("snd", pa.float64()),            # adapt: soft neighbourhood density (higher: better)
    ("dev", pa.float64()),            # adapt: deep embedded validation risk (lower: better)
])

# What a model scored on a dataset (lib/train/steps.score_logits).
_SCORES = [
    ("num_examples", pa.int64()),
    ("loss", pa.float64()),
    ("accuracy", pa.float64()),
    ("class_names", pa.list_(pa.string())),
    ("per_class_accuracy", pa.list_(pa.float64())),
    ("confusion", pa.list_(pa.list_(pa.int64()))),  # rows: true class, columns: predicted
]

EVALS = _schema("evals", [
    *_IDENTITY,
    ("epoch", pa.int32()),
    ("split", pa.string()),           # val, source_test, target_test
    ("dataset", pa.string()),         # the URI (and shift) evaluated
    *_SCORES,
])

RUNS = _schema("runs", [
    *_IDENTITY,
    ("status", pa.string()),          # running, completed, failed, stopped
    ("message", pa.string()),
    ("started", pa.timestamp("s", tz="UTC")),
    ("finished", pa.timestamp("s", tz="UTC")),
    ("wall_seconds", pa.float64()),
    ("epochs_done", pa.int32()),
    ("config_json", pa.string()),
    ("versions_json", pa.string()),   # python, tensorflow, keras, ray, raydapt
    ("git_commit", pa.string()),
    ("resources_json", pa.string()),  # the Ray cluster's resources when the run started
    ("phases", pa.map_(pa.string(), pa.float64())),  # seconds per phase (lib/phases.py)
])

# Proxy A-distance between source and target training samples, per representation.
DOMAIN_DISTANCE = _schema("domain_distance", [
    *_IDENTITY,
    ("epoch", pa.int32()),            # -1: before training
    ("representation", pa.string()),  # backbone (frozen input features) or bottleneck
    ("samples", pa.int64()),
    ("proxy_a_distance", pa.float64()),
])

# The epoch each selection criterion picks (lib/adapt/selection.py), and what it scored.
SELECTION = _schema("selection", [
    *_IDENTITY,
    ("criterion", pa.string()),       # last, source_val, dev, snd, oracle_target_test
    ("label_free", pa.bool_()),       # false: the choice itself read target labels
    ("epoch", pa.int32()),
    ("criterion_value", pa.float64()),
    ("source_val_accuracy", pa.float64()),
    ("target_test_accuracy", pa.float64()),
])

# A few source and target training images' features, for the report's embedding figure.
EMBEDDINGS = _schema("embeddings", [
    *_IDENTITY,
    ("epoch", pa.int32()),            # -1: before training
    ("representation", pa.string()),  # backbone (flattened) or bottleneck
    ("domain", pa.string()),          # source or target
    ("label", pa.int32()),            # source class; null for target (its labels are not read)
    ("features", pa.list_(pa.float32())),
])

# `raydapt evaluate`: a kept epoch or an exported model on any dataset, a row each; the
# identity is that of the run the model came from.
EVALUATIONS = _schema("evaluations", [
    *_IDENTITY,
    ("epoch", pa.int32()),
    ("model", pa.string()),           # what was evaluated: the run's directory or a model file
    ("dataset", pa.string()),         # the URI (and shift) evaluated
    *_SCORES,
    ("evaluated", pa.timestamp("s", tz="UTC")),
])

BENCH = _schema("bench", [
    ("run", pa.string()),
    ("machine", pa.string()),         # hostname, CPU model, cores
    ("name", pa.string()),            # what was measured
    ("precision", pa.string()),
    ("workers", pa.int32()),
    ("batch_size", pa.int32()),       # global
    ("images_per_s", pa.float64()),
    ("gflop_per_image", pa.float64()),
    ("achieved_gflops", pa.float64()),
    ("peak_gflops", pa.float64()),    # fp32 matmul peak measured in the same run
    ("mfu", pa.float64()),
    ("seconds", pa.float64()),
    ("note", pa.string()),
])

TABLES = {s.metadata[b"raydapt.table"].decode(): s
          for s in (EPOCHS, EVALS, RUNS, DOMAIN_DISTANCE, SELECTION, EMBEDDINGS, EVALUATIONS,
                    BENCH)}
