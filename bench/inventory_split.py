"""The attribution job's GPU telemetry on a real cluster's shape: the per-interval reference against the
columns, in one process, on the same rows, their outputs asserted equal.

Run: .venv/bin/python bench/inventory_split.py [--days 30] [--gpus 64]

On the bench data a month is 360 copies of 2 simulated hours, so the reference's pattern cache hides most
of its inventory splits. On a real cluster dcgm's framebuffer totals (FB_USED + FB_FREE + FB_RESERVED, in
MiB) move every interval, so no interval repeats another's pattern. The rows here are ``gpu_counts``'
(``GPU_COUNT_COLUMNS``) for the bench-quick fleet (64 GPUs, 20 pools), one per pool and interval plus
the unallocated GPUs, every interval's measured MiB drawn afresh; the month is built in days, as the job
runs it (24-hour windows), and each phase (``group_telemetry`` then ``build_inputs``) is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale_stages import settings_of, spec_of  # noqa: E402

from attribution.config import Settings  # noqa: E402
from attribution.ledger.inputs import build_inputs, group_telemetry  # noqa: E402
from tests.support.inventory_reference import (  # noqa: E402
    assert_same,
    reference_build_inputs,
    reference_group_telemetry,
)

MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)


def day_rows(settings: Settings, args: dict[str, Any], day: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """One day of ``gpu_counts`` rows: each pool's GPUs and the unallocated ones, all measured and
    powered, their MiB a little different every interval (dcgm's FB_RESERVED and rounding move)."""
    spec = spec_of(args)
    places = [(p.gpu_key, p.name, p.gpus) for p in spec.pools]
    places += [(key, None, n) for key, n in spec.unallocated_gpus.items()]
    frame_mib = {key: settings.catalog.gpu(key).memory_bytes // 2**20 for key, _, _ in places}
    step = settings.interval_seconds
    first = int((MONTH_START + timedelta(days=day)).timestamp())
    rows: list[tuple[Any, ...]] = []
    for ts in range(first, first + 86_400, step):
        for key, pool, n in places:
            mib = n * frame_mib[key] - rng.randrange(0, 64 * n)
            rows.append((ts, key, pool, False, n, 0, n, mib, n, n * rng.randrange(60_000, 700_000), 0, 0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--gpus", type=int, default=64)
    args = parser.parse_args()
    fleet = {"gpus": args.gpus, "tenants": 50, "chunk_intervals": 60}
    settings = settings_of(fleet, "sqlite://", "http://127.0.0.1:9")
    rng = random.Random(0)
    seconds = {"reference": 0.0, "columns": 0.0}
    phases = {"reference_group": 0.0, "reference_build": 0.0, "columns_group": 0.0, "columns_build": 0.0}
    rows_total = 0
    for day in range(args.days):
        rows = day_rows(settings, fleet, day, rng)
        rows_total += len(rows)
        start = MONTH_START + timedelta(days=day)
        end = start + timedelta(days=1)
        t0 = time.perf_counter()
        old_telemetry = reference_group_telemetry(rows)
        t1 = time.perf_counter()
        old = reference_build_inputs(settings, start, end, old_telemetry)
        t2 = time.perf_counter()
        new_telemetry = group_telemetry(rows)
        t3 = time.perf_counter()
        new = build_inputs(settings, start, end, new_telemetry)
        t4 = time.perf_counter()
        assert_same(new, old)
        phases["reference_group"] += t1 - t0
        phases["reference_build"] += t2 - t1
        phases["columns_group"] += t3 - t2
        phases["columns_build"] += t4 - t3
    seconds["reference"] = phases["reference_group"] + phases["reference_build"]
    seconds["columns"] = phases["columns_group"] + phases["columns_build"]
    result = {
        "days": args.days,
        "gpus": args.gpus,
        "rows": rows_total,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "phases_seconds": {k: round(v, 2) for k, v in phases.items()},
        "ratio": round(seconds["reference"] / seconds["columns"], 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
