"""The bench's `prepare` part: how `raydapt prepare` of a folder scales. Its driver's
peak memory on the folder and on the folder four times over (the same files linked under
new names: no extra disk), each a `python -m jobs.prepare` process of its own; and its
images/s with a local Ray of 1 CPU and of 2, in this process (the decode runs in Ray
Data tasks, so it should scale with the CPUs while the driver's part stays small).

Output of the runs goes to the bench's log (the subprocesses inherit its fds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from lib.errors import RaydaptError
from lib.measurement import Measurement

COPIES = 4  # the larger folder: the 50,000 -> 200,000 images

# A prepare process that reports its own peak memory: VmHWM, its memory's high-water mark
# since exec, of the driver alone, not of the Ray processes it starts. (getrusage's
# ru_maxrss is no use: Linux carries it over fork and exec, so the child reported the
# bench process's own peak, 3.2 GB, for either size.)
CHILD = """
import re, runpy, sys
sys.argv = ["jobs.prepare", *sys.argv[1:]]
try:
    runpy.run_module("jobs.prepare", run_name="__main__")
except SystemExit as e:
    if e.code:
        raise
with open("/proc/self/status") as f:
    print("max_rss_kb", re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))
"""


def linked_copies(root: str, copies: int, out: str) -> int:
    """`out/<class>/<k>-<file>` linked to `root/<class>/<file>` for k < copies: the folder
    `copies` times over. Returns the number of files."""
    count = 0
    for name in sorted(os.listdir(root)):
        if name.startswith(".") or not os.path.isdir(os.path.join(root, name)):
            continue
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for file in sorted(os.listdir(os.path.join(root, name))):
            for k in range(copies):
                os.symlink(os.path.join(root, name, file), os.path.join(out, name, f"{k}-{file}"))
                count += 1
    return count


def peak_memory(source: str, out: str, per_class: int) -> tuple[float, int, int]:
    """(wall seconds, driver max RSS in bytes, images) of one `python -m jobs.prepare`
    process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "--source", source, "--out", out,
                           "--limit-per-class", str(per_class)],
                          stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    last = (done.stdout.strip().splitlines() or [""])[-1].split()
    if done.returncode != 0 or len(last) != 2 or last[0] != "max_rss_kb":
        raise RaydaptError(f"bench prepare: {source} -> {out} exited {done.returncode} (its "
                           "output is in the bench's log)")
    with open(f"{out}/manifest.json") as f:
        return seconds, int(last[1]) * 1024, json.load(f)["num_rows"]


def images_per_s(source: str, out: str, per_class: int, cpus: int) -> tuple[float, int]:
    """(images/s, images) of prepare() with a local Ray of `cpus` CPUs, started here first
    (its start is not timed)."""
    import logging

    import ray

    from lib.config import DataConfig, PrepareConfig
    from lib.prepare import prepare

    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
             _node_ip_address="127.0.0.1")
    try:
        started = time.perf_counter()
        manifest = prepare(PrepareConfig(source=source, out=out,
                                         data=DataConfig(limit_per_class=per_class)))
        seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
    return manifest["num_rows"] / seconds, manifest["num_rows"]


def prepare_scaling(source: str, per_class: int, scratch: str) -> list[Measurement]:
    """Measurements: peak driver memory at 1x and COPIES x the images, then images/s
    with 1 and 2 CPUs."""
    from lib.data.uri import parse_uri

    uri = parse_uri(source)
    if uri.scheme != "folder":
        raise RaydaptError(f"bench prepare: --source must be a folder: URI, not {source}")
    os.makedirs(scratch, exist_ok=True)
    linked = f"{scratch}/linked"
    if not os.path.isdir(linked):
        linked_copies(os.path.abspath(uri.path), COPIES, linked)
    small_s, small_rss, small = peak_memory(source, f"{scratch}/x1", per_class)
    large_s, large_rss, large = peak_memory(f"folder:{linked}", f"{scratch}/x{COPIES}",
                                            per_class * COPIES)
    mb = 1024 * 1024
    out = [
        Measurement(f"prepare: {small:,} images, driver peak memory", small / small_s, 0.0,
                    small_s, note=f"max RSS {small_rss / mb:,.0f} MB in {small_s:.0f} s"),
        Measurement(f"prepare: {large:,} images ({COPIES}x, linked), driver peak memory",
                    large / large_s, 0.0, large_s,
                    note=f"max RSS {large_rss / mb:,.0f} MB in {large_s:.0f} s, "
                         f"{large_rss / small_rss - 1:+.1%} over {small:,} images"),
    ]
    rates = {cpus: images_per_s(source, f"{scratch}/cpus-{cpus}", per_class, cpus)
             for cpus in (1, 2)}
    for cpus, (rate, images) in rates.items():
        note = f"{images:,} images" + (f", {rate / rates[1][0]:.2f}x 1 CPU's images/s"
                                       if cpus > 1 else "")
        out.append(Measurement(f"prepare: a local Ray of {cpus} CPU(s), Ray started", rate,
                               0.0, images / rate, note=note))
    return out
