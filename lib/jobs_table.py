"""raydapt's commands: each a config class (lib/config.py) and the one lib function taking
it, as 'module:function', imported only when it runs (`--help` stays fast: no TF, no Ray).
This table is the only place that pairs them: jobs/ builds the CLI from it, a submission
checks its job's options against it (lib/cluster/entrypoint.py) and a sweep's trial runs
its job through it (lib/sweep/job.py)."""

from __future__ import annotations

from lib import config

JOBS = {
    "prepare": (config.PrepareConfig, "lib.prepare:prepare"),
    "finetune": (config.FinetuneConfig, "lib.finetune:finetune"),
    "adapt": (config.AdaptConfig, "lib.adapt.job:adapt"),
    "export": (config.ExportConfig, "lib.inference.export:export"),
    "evaluate": (config.EvaluateConfig, "lib.inference.evaluate:evaluate"),
    "predict": (config.PredictConfig, "lib.inference.predict:predict"),
    "sweep": (config.SweepConfig, "lib.sweep.job:sweep"),
    "bench": (config.BenchConfig, "lib.bench:bench"),
    "report": (config.ReportConfig, "lib.report.job:report"),
}
# Client commands talk to a cluster instead of running a job there.
SUBMIT = (config.SubmitConfig, "lib.cluster.submit:submit")
JOB_COMMANDS = {
    "status": (config.SubmissionConfig, "lib.cluster.client:status"),
    "logs": (config.LogsConfig, "lib.cluster.client:logs"),
    "stop": (config.StopConfig, "lib.cluster.client:stop"),
    "list": (config.ListConfig, "lib.cluster.client:list_jobs"),
}
