"""The attribution job's GPU telemetry on a real cluster's shape: the per-interval reference against the
columns, in one process, on the same rows, their outputs asserted equal.

Run: .venv/bin/python bench/inventory_split.py [--days 30] [--gpus 64] [--database-url URL]

On the bench data a month is 360 copies of 2 simulated hours, so the reference's pattern cache hides most
of its inventory splits. On a real cluster dcgm's framebuffer totals (FB_USED + FB_FREE + FB_RESERVED, in
MiB) move every interval, so no interval repeats another's pattern. The rows here are ``gpu_counts``'
(``GPU_COUNT_COLUMNS``) for the bench-quick fleet (64 GPUs, 20 pools), one per pool and interval plus
the unallocated GPUs, every interval's measured MiB drawn afresh; the month is built in days, as the job
runs it (24-hour windows), and each phase (``group_telemetry`` then ``build_inputs``) is timed, in wall
and in CPU seconds (on a shared machine the CPU time moves less with the load). With ``--database-url``
(a database ``bench/scale_stages.py`` seeded) the rows are the seeded month's own ``gpu_counts`` and
``kv_samples`` instead: the bench shape, whose intervals repeat.
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

from bench_attribute import MONTH_START as SEEDED_MONTH_START  # noqa: E402
from fleet import settings_of, spec_of  # noqa: E402

from attribution.config import Settings  # noqa: E402
from attribution.ledger.inputs import build_inputs, group_telemetry  # noqa: E402
from attribution.store.gpu_columns import gpu_count_columns_from_rows  # noqa: E402
from attribution.store.inputs import gpu_counts, kv_samples  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402
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


def stored_rows(url: str, settings: Settings, day: int) -> tuple[list[Any], list[Any]]:
    """The seeded month's ``gpu_counts`` and ``kv_samples`` rows of one day."""
    start = SEEDED_MONTH_START + timedelta(days=day)
    with make_sessionmaker(make_engine(url))() as session:
        end = start + timedelta(days=1)
        gpus = gpu_counts(session, start, end, settings.cluster)
        kv = kv_samples(session, start, end, settings.cluster)
    return list(gpus), list(kv)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--database-url", help="time the seeded month's rows instead")
    args = parser.parse_args()
    fleet = {"gpus": args.gpus, "tenants": 50, "chunk_intervals": 60}
    settings = settings_of(fleet, args.database_url or "sqlite://", "http://127.0.0.1:9")
    rng = random.Random(0)
    wall = dict.fromkeys(("reference_group", "reference_build", "columns_group", "columns_build"), 0.0)
    cpu = dict.fromkeys(wall, 0.0)
    rows_total = 0
    for day in range(args.days):
        if args.database_url:
            rows, kv = stored_rows(args.database_url, settings, day)
        else:
            rows, kv = day_rows(settings, fleet, day, rng), []
        rows_total += len(rows)
        start = (SEEDED_MONTH_START if args.database_url else MONTH_START) + timedelta(days=day)
        end = start + timedelta(days=1)
        clock: list[tuple[float, float]] = [(time.perf_counter(), time.process_time())]
        old_telemetry = reference_group_telemetry(rows)
        clock.append((time.perf_counter(), time.process_time()))
        old = reference_build_inputs(settings, start, end, old_telemetry, kv)
        clock.append((time.perf_counter(), time.process_time()))
        new_telemetry = group_telemetry(gpu_count_columns_from_rows(rows))
        clock.append((time.perf_counter(), time.process_time()))
        new = build_inputs(settings, start, end, new_telemetry, kv)
        clock.append((time.perf_counter(), time.process_time()))
        assert_same(new, old)
        for name, (w0, c0), (w1, c1) in zip(wall, clock[:-1], clock[1:], strict=True):
            wall[name] += w1 - w0
            cpu[name] += c1 - c0
    totals = {
        kind: {
            "reference": round(spent["reference_group"] + spent["reference_build"], 2),
            "columns": round(spent["columns_group"] + spent["columns_build"], 2),
        }
        for kind, spent in (("wall", wall), ("cpu", cpu))
    }
    result = {
        "rows": "stored" if args.database_url else "real-cluster shape (every interval's MiB differs)",
        "days": args.days,
        "gpus": args.gpus,
        "gpu_count_rows": rows_total,
        "seconds": totals,
        "phases_wall_seconds": {k: round(v, 2) for k, v in wall.items()},
        "phases_cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "ratio_cpu": round(totals["cpu"]["reference"] / max(totals["cpu"]["columns"], 1e-9), 1),
        "ratio_wall": round(totals["wall"]["reference"] / max(totals["wall"]["columns"], 1e-9), 1),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
