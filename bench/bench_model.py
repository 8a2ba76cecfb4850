"""Benchmark of the pure memory-time model: lines attributed per second, by engine.

Run: .venv/bin/python bench/bench_model.py [--days 7] [--pools 2] [--tenants 10] [--engine both]
Engines: ``reference`` (attribute_window), ``vectorized`` (the same ``Attribution``, lines as a dict),
``columns`` (the vectorised lines as numpy columns, no Python object per line); ``both`` runs the first
two, ``all`` the three. CPU seconds are given next to wall seconds: on a shared machine they vary less.
Each engine runs in a process of its own, so its peak RSS is its own (inputs included); with ``both``
the two engines' lines are compared by a SHA-256 of their sorted contents. Prints figures and records
them in bench/results/model.json under the run's size. A benchmark, not a test: no thresholds.
A month of the ``mixed`` scenario is about: --days 30 --pools 8 --tenants 10.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attribution.model.attribute import ClusterInterval, LineId, Policies, attribute_window
from attribution.model.split import Components, PoolInterval, Usage
from attribution.model.vectorized import attribute_window_columns, attribute_window_vectorized

TIERS = ("0-4k", "4k-32k", "32k-128k", "128k+")
Lines = Callable[[], dict[LineId, Components]]
ENGINES = ("reference", "vectorized", "columns")


def run(engine: str, pis: list[PoolInterval], cis: list[ClusterInterval], policies: Policies) -> Lines:
    """Run one engine (the caller times this); return how to get its lines as a dict, untimed."""
    if engine == "columns":
        columns, _ = attribute_window_columns(pis, cis, policies)
        return columns.to_dict
    result = (attribute_window if engine == "reference" else attribute_window_vectorized)(pis, cis, policies)
    return lambda: result.lines


def synthetic(
    days: int, pools: int, tenants: int, seed: int = 0
) -> tuple[list[PoolInterval], list[ClusterInterval]]:
    rng = random.Random(seed)
    start = 1_793_491_200  # 2026-11-01T00:00:00Z
    pool_intervals, cluster_intervals = [], []
    for i in range(days * 1440):
        ts = start + 60 * i
        for p in range(pools):
            usage = {
                (f"tenant-{t:04d}", TIERS[(t + p) % 4]): Usage(rng.uniform(0, 5e6), 3, 5000, 500)
                for t in range(tenants)
                if rng.random() < 0.7
            }
            pool_intervals.append(
                PoolInterval(
                    f"pool-{p}",
                    ts,
                    60,
                    505_333,
                    8 * 150_754_820_096,
                    600 * 2**30,
                    rng.random(),
                    516_096,
                    usage,
                )
            )
        cluster_intervals.append(ClusterInterval(ts, 99_666, 0))
    return pool_intervals, cluster_intervals


def digest(lines: dict[LineId, Components]) -> str:
    """SHA-256 of the lines in sorted order: equal digests, equal lines to the micro-dollar."""
    h = hashlib.sha256()
    for line_id in sorted(lines):
        c = lines[line_id]
        h.update(repr((line_id, c.kv_in_use, c.static, c.idle, c.unmeasured)).encode())
    return h.hexdigest()


def run_engine(engine: str, days: int, pools: int, tenants: int) -> dict[str, Any]:
    """One engine over the synthetic window, in this process."""
    pis, cis = synthetic(days, pools, tenants)
    policies = Policies({f"pool-{p}": "share" for p in range(pools)})
    started, cpu_started = time.perf_counter(), time.process_time()
    lines_of = run(engine, pis, cis, policies)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # before any dict of columns
    lines = lines_of()
    return {
        "engine": engine,
        "pool_intervals": len(pis),
        "lines": len(lines),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "pool_intervals_per_second": round(len(pis) / seconds),
        "lines_per_second": round(len(lines) / seconds),
        "peak_rss_mib": peak_rss_mib,
        "total_usd_micros": sum(c.total for c in lines.values()),
        "lines_sha256": digest(lines),
    }


def in_child(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--engine", engine]
    command += ["--days", str(args.days), "--pools", str(args.pools), "--tenants", str(args.tenants)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--pools", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--engine", choices=[*ENGINES, "both", "all"], default="both")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "model.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_engine(args.engine, args.days, args.pools, args.tenants)))
        return
    chosen = {"both": ["reference", "vectorized"], "all": list(ENGINES)}
    engines = chosen.get(args.engine, [args.engine])
    runs = {engine: in_child(engine, args) for engine in engines}
    figures: dict[str, Any] = {
        "days": args.days,
        "pools": args.pools,
        "tenants": args.tenants,
        "engines": runs,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
    if "reference" in runs:
        reference = runs["reference"]
        for name, other in runs.items():
            if name != "reference":
                figures[f"{name}_identical_lines"] = other["lines_sha256"] == reference["lines_sha256"]
                figures[f"{name}_speed_up"] = round(reference["seconds"] / other["seconds"], 1)
                figures[f"{name}_cpu_speed_up"] = round(reference["cpu_seconds"] / other["cpu_seconds"], 1)
    print(json.dumps(figures, indent=2))
    # one entry per size, so the default run and a month-sized run sit side by side
    out = args.out
    stored = json.loads(out.read_text()) if out.exists() else {}
    runs_by_size = stored.get("runs", {}) if isinstance(stored, dict) else {}
    runs_by_size[f"{args.days}d-{args.pools}p-{args.tenants}t"] = figures
    out.write_text(json.dumps({"runs": runs_by_size}, indent=2) + "\n")


if __name__ == "__main__":
    main()
