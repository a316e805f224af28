"""raydapt's commands: each a config class (lib/config.py) and the one lib function taking
it, as 'module:function', imported only when it runs (`--help` stays fast: no TF, no Ray).
This table is the only place that pairs them: jobs/ builds the CLI from it, a submission
checks its job's options against it (lib/cluster/entrypoint.py) and a sweep's trial runs
its job through it (lib/sweep/job.py)."""

from __future__ import annotations

from lib.config import (
    AdaptConfig,
    BenchConfig,
    EvaluateConfig,
    ExportConfig,
    FinetuneConfig,
    ListConfig,
    LogsConfig,
    PredictConfig,
    PrepareConfig,
    ReportConfig,
    StopConfig,
    SubmissionConfig,
    SubmitConfig,
    SweepConfig,
)

JOBS = {
    "prepare": (PrepareConfig, "lib.prepare:prepare"),
    "finetune": (FinetuneConfig, "lib.finetune:finetune"),
    "adapt": (AdaptConfig, "lib.adapt.job:adapt"),
    "export": (ExportConfig, "lib.inference.export:export"),
    "evaluate": (EvaluateConfig, "lib.inference.evaluate:evaluate"),
    "predict": (PredictConfig, "lib.inference.predict:predict"),
    "sweep": (SweepConfig, "lib.sweep.job:sweep"),
    "bench": (BenchConfig, "lib.bench:bench"),
    "report": (ReportConfig, "lib.report.job:report"),
}
# Client commands talk to a cluster instead of running a job there.
SUBMIT = (SubmitConfig, "lib.cluster.submit:submit")
JOB_COMMANDS = {
    "status": (SubmissionConfig, "lib.cluster.client:status"),
    "logs": (LogsConfig, "lib.cluster.client:logs"),
    "stop": (StopConfig, "lib.cluster.client:stop"),
    "list": (ListConfig, "lib.cluster.client:list_jobs"),
}
