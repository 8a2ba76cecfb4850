"""Benchmark of the daily rollups (issue 14 part 2) on a seeded month of lines, on Postgres.

Run: .venv/bin/python bench/bench_rollups.py [--tenants 1000] [--database-url postgresql://...]
Prints figures and writes bench/results/rollups.json. A benchmark, not a test: no thresholds.

The month is seeded as ``api_month.py`` seeds it (hourly lines, two pools, two tiers per tenant). Measured:
* ``chargeback_month``: ``build_chargeback`` for the month, direct (no API, no cache): since
  attribution/store/daysums.py it sums the month's whole days from the rollups (before, the hourly lines);
* ``refresh_month`` / ``refresh_day``: :func:`refresh_rollups` over the month (what a 30-day attribution
  run, or the migration's backfill, adds) and over one day (what an hourly run adds: it rewrites its day);
* ``rollup_month_read``: the month's line-item sums read from the rollups instead (the same GROUP BY over
  30 rows per line item instead of 720), to size what a view reading rollups would save.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_month import DEC, NOV, seed_month  # noqa: E402
from sqlalchemy import text  # noqa: E402

from attribution.reports.chargeback import build_chargeback  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.rollups import refresh_rollups  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from tests.support.postgres import fresh_database_on  # noqa: E402

ROLLUP_READ = """
SELECT tenant, pool, tier, sum(requests), sum(prompt_tokens), sum(generation_tokens),
       sum(kv_token_seconds ORDER BY day_start), sum(kv_byte_seconds ORDER BY day_start),
       sum(kv_in_use_usd_micros), sum(static_usd_micros), sum(idle_usd_micros),
       sum(unmeasured_usd_micros), sum(total_usd_micros), bool_or(estimated)
FROM daily_line_sums WHERE day_start >= :start AND day_start < :end
GROUP BY tenant, pool, tier ORDER BY tenant, pool, tier
"""


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - began)
    return {"min_ms": round(min(seconds) * 1000, 1), "median_ms": round(statistics.median(seconds) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="a Postgres server (a database is created)")
    args = parser.parse_args()
    with fresh_database_on(args.database_url) as url:
        upgrade(url)
        factory = make_sessionmaker(make_engine(url))
        seeded = seed_month(factory, args.tenants, 3600, 60)  # with its rollups
        with unit_of_work(factory) as session:
            session.execute(text("ANALYZE"))
        print(f"seeded {seeded['lines']:,} lines", flush=True)

        def chargeback() -> None:
            with factory() as session:
                build_chargeback(session, NOV, DEC, 60)

        def refresh(days: int) -> Callable[[], None]:
            def run() -> None:
                with unit_of_work(factory) as session:
                    refresh_rollups(session, NOV, NOV + timedelta(days=days))

            return run

        def rollup_read() -> None:
            with factory() as session:
                session.execute(text(ROLLUP_READ), {"start": NOV, "end": DEC}).all()

        result = {
            "tenants": args.tenants,
            "lines": seeded["lines"],
            "chargeback_month": timed(chargeback, args.runs),
            "refresh_month": timed(refresh(30), max(1, args.runs // 2)),
            "refresh_day": timed(refresh(1), args.runs),
            "rollup_month_read": timed(rollup_read, args.runs),
        }
        with factory() as session:
            result["rollup_rows"] = int(
                session.execute(text("SELECT count(*) FROM daily_line_sums")).scalar_one()
            )
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / f"rollups-{args.tenants}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
