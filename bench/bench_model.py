"""Benchmark of the pure memory-time model: pool-intervals attributed per second.

Run: .venv/bin/python bench/bench_model.py [--days 7] [--pools 2] [--tenants 10]
Prints figures and writes bench/results/model.json. A benchmark, not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import time
from pathlib import Path

from attribution.model.attribute import ClusterInterval, Policies, attribute_window
from attribution.model.split import PoolInterval, Usage

TIERS = ("0-4k", "4k-32k", "32k-128k", "128k+")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--pools", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=10)
    args = parser.parse_args()
    pis, cis = synthetic(args.days, args.pools, args.tenants)
    started = time.perf_counter()
    result = attribute_window(pis, cis, Policies({f"pool-{p}": "share" for p in range(args.pools)}))
    seconds = time.perf_counter() - started
    figures = {
        "days": args.days,
        "pools": args.pools,
        "tenants": args.tenants,
        "pool_intervals": len(pis),
        "lines": len(result.lines),
        "seconds": round(seconds, 3),
        "pool_intervals_per_second": round(len(pis) / seconds),
        "lines_per_second": round(len(result.lines) / seconds),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
    print(json.dumps(figures, indent=2))
    out = Path(__file__).parent / "results" / "model.json"
    out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
