"""Where a collection's time goes: the CPU of each process beside it, and the best fraction it allows.

Run: .venv/bin/python bench/collect_budget.py --tsdb DIR --gpus 1024 --tenants 1000 [--repeat 3]
     [--hours 2] [--chunk-intervals 60] [--timeline]
``--tsdb`` is a backfilled TSDB of ``bench_scale.py``'s fleet (its ``simulate`` and ``ingest`` stages, or
``bench/scale_stages.py`` run by hand); ``--start`` defaults to its month start.

Why: collection is measured against its fetch-only ceiling (issue 14 item 4), Prometheus answering the
same queries with nothing parsed. On a 2-core machine that ceiling is Prometheus alone on both cores,
while the collection shares them with Prometheus, Postgres and itself. So the fraction is bounded by CPU
before any overlap is lost: with ``P``, ``C`` and ``G`` the CPU seconds of Prometheus, the collector and
Postgres during the collection, no schedule finishes before ``(P + C + G) / cores``, and the fraction
cannot exceed ``fetch_only / ((P + C + G) / cores)`` (``packing_bound``). The gap between that bound
and the measured fraction is time lost to waiting (a core idle); the rest can only be won by less CPU.

Each repeat is a collection as ``make bench`` runs it: a fresh throwaway cluster (fsync off), the 1 h
collection first (here in this process: it only warms the cluster), then the span in a new process (its
first collection: cold), the fetch-only replay right after it. CPU is read from ``/proc`` (user and
system apart for the collector) around ``collect_window`` only: the collector's process, the Prometheus
it started (its child), and the cluster's postmaster with its children, the exited ones included (their
time is added to the postmaster's once it reaps them); ``--timeline`` adds each process's use in 0.5 s
steps, and the idle. A benchmark, not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TICKS = os.sysconf("SC_CLK_TCK")
STEP_SECONDS = 0.5


def _cpu(pid: int, reaped: bool = False) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` (its threads included), or zeros once it is gone; with
    ``reaped``, its exited children's too (a backend or autovacuum worker that ended in the window)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    user, system = int(fields[11]), int(fields[12])
    if reaped:
        user, system = user + int(fields[13]), system + int(fields[14])
    return user / TICKS, system / TICKS


def _family(postmaster: int) -> dict[str, list[int]]:
    """The pids of the Prometheus this process started and of the cluster's Postgres backends (the
    postmaster's children; the postmaster itself is read apart, with what it reaped)."""
    out: dict[str, list[int]] = {"prometheus": [], "postgres": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        name = status.split("\n", 1)[0].split()[-1]
        parent = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("PPid:"))
        if name.startswith("prometheus") and parent == os.getpid():
            out["prometheus"].append(int(entry))
        elif parent == postmaster:
            out["postgres"].append(int(entry))
    return out


def _snapshot(postmaster: int) -> dict[str, float]:
    user, system = _cpu(os.getpid())
    found = {"at": time.perf_counter(), "collector_user": user, "collector_system": system}
    for name, pids in _family(postmaster).items():
        found[name] = sum(sum(_cpu(p)) for p in pids)
    found["postgres"] += sum(_cpu(postmaster, reaped=True))
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    found["idle"] = (int(fields[4]) + int(fields[5])) / TICKS
    return found


def child(args: dict[str, Any]) -> dict[str, Any]:
    """The span's collection (scale_stages.collect, as make bench runs it) with CPU read around it."""
    import scale_stages

    marks: list[dict[str, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(STEP_SECONDS):
            marks.append(_snapshot(args["postmaster"]))

    inner = scale_stages.collect_window  # the name collect() calls: replaced, then restored

    def measured(*a: Any, **k: Any) -> Any:
        marks.append(_snapshot(args["postmaster"]))
        sampler = threading.Thread(target=sample, daemon=True) if args["timeline"] else None
        if sampler:
            sampler.start()
        try:
            return inner(*a, **k)
        finally:
            done.set()
            if sampler:
                sampler.join()
            marks.append(_snapshot(args["postmaster"]))

    scale_stages.collect_window = measured
    try:
        result = scale_stages.collect(args)
    finally:
        scale_stages.collect_window = inner
    first, last = marks[0], marks[-1]
    cpu = {k: round(last[k] - first[k], 2) for k in first if k != "at"}
    steps = [
        {k: round((b[k] - a[k]) / (b["at"] - a["at"]), 2) for k in a if k != "at"}
        | {"from": round(a["at"] - first["at"], 1)}
        for a, b in itertools.pairwise(marks)
    ]
    return {"seconds": result["seconds"], "fetch_only_seconds": result["fetch_only_seconds"], "cpu": cpu,
            "steps": steps if args["timeline"] else []}  # fmt: skip


def _run_child(args: dict[str, Any]) -> dict[str, Any]:
    found = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def one_repeat(opts: argparse.Namespace) -> dict[str, Any]:
    from scale_stages import STAGES

    from tests.support.postgres import fresh_database, running_cluster

    base = {"gpus": opts.gpus, "tenants": opts.tenants, "start": opts.start, "tsdb": str(opts.tsdb),
            "chunk_intervals": opts.chunk_intervals}  # fmt: skip
    with (
        running_cluster() as cluster,
        fresh_database(cluster.url) as hour,
        fresh_database(cluster.url) as span,
    ):
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        STAGES["collect"]({**base, "hours": 1, "url": hour})  # warms the cluster as make bench does
        return _run_child({**base, "hours": opts.hours, "url": span, "postmaster": postmaster,
                           "timeline": opts.timeline})  # fmt: skip


def report(runs: list[dict[str, Any]], cores: int) -> dict[str, Any]:
    """Per run: fraction, CPU and the packing bound; then their medians."""
    rows = []
    for run in runs:
        cpu = run["cpu"]
        busy = cpu["prometheus"] + cpu["collector_user"] + cpu["collector_system"] + cpu["postgres"]
        rows.append({"seconds": run["seconds"], "fetch_only_seconds": run["fetch_only_seconds"],
                     "fraction": round(run["fetch_only_seconds"] / run["seconds"], 3),
                     "packing_bound": round(run["fetch_only_seconds"] / (busy / cores), 3),
                     "cores_busy": round(busy / run["seconds"], 2), **cpu})  # fmt: skip
    medians = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
    return {"cores": cores, "runs": rows, "median": medians}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(json.loads(sys.argv[2]))), flush=True)
        return
    from bench_attribute import MONTH_START

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsdb", type=Path, required=True)
    parser.add_argument("--gpus", type=int, required=True)
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--start", default=MONTH_START.isoformat())
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--chunk-intervals", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeline", action="store_true", help="each process's use in 0.5 s steps")
    opts = parser.parse_args()
    runs = []
    for i in range(opts.repeat):
        run = one_repeat(opts)
        runs.append(run)
        cpu = run["cpu"]
        print(f"run {i + 1}: {run['seconds']:.2f} s, fetch-only {run['fetch_only_seconds']:.3f} s, CPU s: "
              + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if k != "idle"), flush=True)  # fmt: skip
        for step in run["steps"]:
            print("   " + " ".join(f"{k} {v:5.2f}" for k, v in step.items()))
    out = report(runs, os.cpu_count() or 1)
    print(json.dumps(out["median"]))


if __name__ == "__main__":
    main()
