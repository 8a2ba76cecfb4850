"""Benchmark of the attribution job on a month of the simulator's ``mixed`` scenario, on Postgres.

Run: .venv/bin/python bench/bench_attribute.py [--days 30] [--seed-days 1] [--database-url postgresql://...]
Prints figures and writes bench/results/attribute.json. A benchmark, not a test: no thresholds.

How the month is built: ``--seed-days`` of the ``mixed`` scenario (eight pools, 12 unallocated GPUs, every
exporter) are simulated, loaded into a real Prometheus with promtool and collected into Postgres by the
real collectors; then those stored rows are copied day after day (``INSERT ... SELECT`` with the time
shifted) until the month is full. Simulating and collecting a whole month would take an hour and measure
the simulator, not the attribution job; repeating real days keeps the shape (pools, tenants, tiers,
gaps) real.

Measured in the same run, on the same rows:
* ``attribute``: ``run_attribution`` over the month: read the telemetry, attribute, check conservation,
  write lines, pool and cluster costs, in one transaction (also split into its phases);
* ``raw_group_by``: one ``GROUP BY`` scan of the same input rows (tenant usage by pool, tenant, tier and
  hour; GPU samples by GPU and hour): what reading the month costs the database with no model at all.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from attribution.collectors.prom import PromClient  # noqa: E402
from attribution.collectors.run import collect_window  # noqa: E402
from attribution.demo import demo_settings  # noqa: E402
from attribution.ledger.attribute import run_attribution  # noqa: E402
from attribution.localprom import LocalPrometheus, create_blocks  # noqa: E402
from attribution.sim import generate_history  # noqa: E402
from attribution.sim.scenarios import scenario  # noqa: E402
from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker  # noqa: E402

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
#: Input tables and the column that dates their rows; each is copied forward day by day.
INPUT_TABLES = {
    "gpu_samples": "interval_start",
    "kv_samples": "interval_start",
    "tenant_usage": "interval_start",
    "coverage": "interval_start",
    "source_coverage": "interval_start",
}

RAW_GROUP_BY = """
SELECT count(*), sum(n), sum(ts) FROM (
  SELECT date_trunc('hour', interval_start) AS h, pool, tenant, tier, count(*) AS n,
         sum(kv_token_seconds) AS ts, sum(requests), sum(prompt_tokens), sum(generation_tokens)
  FROM tenant_usage WHERE interval_start >= :start AND interval_start < :end
  GROUP BY 1, 2, 3, 4
  UNION ALL
  SELECT date_trunc('hour', interval_start), gpu_uuid, hostname, gpu_model_name, count(*),
         sum(fb_used_bytes), 0, 0, 0
  FROM gpu_samples WHERE interval_start >= :start AND interval_start < :end
  GROUP BY 1, 2, 3, 4
  UNION ALL
  SELECT date_trunc('hour', interval_start), pool, '', '', count(*), sum(kv_usage_ratio), 0, 0, 0
  FROM kv_samples WHERE interval_start >= :start AND interval_start < :end
  GROUP BY 1, 2
) AS scan
"""


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.support.postgres import fresh_database, throwaway_cluster

    with throwaway_cluster() as server, fresh_database(server) as db:
        yield db


def seed(url: str, work: Path, seed_days: int) -> dict[str, Any]:
    """Simulate and collect ``seed_days`` of ``mixed`` at the start of the month; returns the settings."""
    spec = scenario("mixed")
    end = MONTH_START + timedelta(days=seed_days)
    t0 = time.monotonic()
    history = generate_history(spec, MONTH_START, end, work / "history")
    simulate_s = time.monotonic() - t0
    t0 = time.monotonic()
    create_blocks(history.openmetrics_path, work / "tsdb")
    history.openmetrics_path.unlink()
    promtool_s = time.monotonic() - t0
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    with LocalPrometheus(work / "tsdb") as prom:
        settings = demo_settings(spec, url, prom.url)
        t0 = time.monotonic()
        collected = collect_window(PromClient(prom.url), settings, factory, MONTH_START, end)
        collect_s = time.monotonic() - t0
    return {
        "settings": settings,
        "simulate_seconds": round(simulate_s, 1),
        "promtool_seconds": round(promtool_s, 1),
        "collect_seconds": round(collect_s, 1),
        "rows_collected": collected.rows_by_table,
    }


def replicate(url: str, seed_days: int, days: int) -> dict[str, int]:
    """Copy the seeded days forward until ``days`` are filled; returns the rows per input table."""
    return replicate_span(url, MONTH_START, seed_days * 86_400, days * 86_400)


def replicate_span(url: str, start: datetime, seed_seconds: int, total_seconds: int) -> dict[str, int]:
    """Copy the rows of ``[start, start + seed_seconds)`` forward, shifted by whole seeds, until
    ``total_seconds`` are filled (the last copy cut short); returns the rows per input table.

    One ``INSERT ... SELECT`` per table over ``generate_series`` of the shifts, with the table's indexes
    (its primary key included) dropped first and built again after: one sorted build instead of a
    B-tree insert per row. The tables are copied side by side, two at a time (one per core).
    The rows, keys and indexes are those of copying seed by seed."""
    engine = make_engine(url)
    with ThreadPoolExecutor(max_workers=2) as pool:
        copies = [pool.submit(_replicate_table, engine, t, c, start, seed_seconds, total_seconds)
                  for t, c in INPUT_TABLES.items()]  # fmt: skip
        for copy in copies:
            copy.result()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
        return {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in INPUT_TABLES
        }


def _replicate_table(
    engine: Engine, table: str, column: str, start: datetime, seed_seconds: int, total_seconds: int
) -> None:
    if total_seconds <= seed_seconds:
        return
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        columns = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                    "ORDER BY ordinal_position"
                ),
                {"t": table},
            )
        ]
        # Constraints that own an index (primary key, unique) and the other indexes, to build again.
        constraints = conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u')"
            ),
            {"t": table},
        ).all()
        indexes = conn.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i "
                "ON i.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            ),
            {"t": table},
        ).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        for name, _ in constraints:
            conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        shifted = ", ".join(
            f"{c} + make_interval(secs => k.n * :seed)" if c in (column, "collected_at") else c
            for c in columns
        )
        conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {shifted} FROM {table} "
                "CROSS JOIN generate_series(1, :copies) AS k(n) "
                f"WHERE {column} >= :start AND {column} < :seed_end "
                f"AND {column} + make_interval(secs => k.n * :seed) < :end"
            ),
            {
                "seed": seed_seconds,
                "copies": -(-total_seconds // seed_seconds) - 1,
                "start": start,
                "seed_end": start + timedelta(seconds=seed_seconds),
                "end": start + timedelta(seconds=total_seconds),
            },
        )
        for name, definition in constraints:
            conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
        for _, definition in indexes:
            conn.execute(text(definition))


def counts(url: str) -> dict[str, int]:
    with make_engine(url).connect() as conn:
        return {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in INPUT_TABLES
        }


def raw_group_by(url: str, start: datetime, end: datetime) -> tuple[float, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        t0 = time.monotonic()
        groups = conn.execute(text(RAW_GROUP_BY), {"start": start, "end": end}).one()
        return time.monotonic() - t0, int(groups[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed-days", type=int, default=1)
    parser.add_argument("--database-url")
    parser.add_argument("--profile", action="store_true", help="print the job's 25 most costly functions")
    parser.add_argument(
        "--reuse", action="store_true", help="with --database-url: keep rows a previous run seeded there"
    )
    args = parser.parse_args()
    end = MONTH_START + timedelta(days=args.days)
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url) as url:
        if args.reuse and args.database_url:
            spec = scenario("mixed")
            seeded = {"settings": demo_settings(spec, url, "http://127.0.0.1:9"), "reused": True}
        else:
            print(f"seeding {args.seed_days} day(s) of the mixed scenario ...", flush=True)
            seeded = seed(url, Path(tmp), args.seed_days)
        settings = seeded.pop("settings").model_copy(update={"max_window_days": args.days + 1})
        print(f"  {seeded}", flush=True)
        input_rows = replicate(url, args.seed_days, args.days) if "reused" not in seeded else counts(url)
        total_input = sum(input_rows.values())
        print(f"month of input rows: {input_rows} ({total_input:,} in all)", flush=True)
        group_by_s, groups = raw_group_by(url, MONTH_START, end)
        print(f"raw GROUP BY scan: {group_by_s:.2f} s ({total_input / group_by_s:,.0f} rows/s)", flush=True)
        factory = make_sessionmaker(make_engine(url))
        profiler = cProfile.Profile() if args.profile else None
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        t0 = time.monotonic()
        if profiler:
            profiler.enable()
        summary = run_attribution(settings, factory, MONTH_START, end)
        if profiler:
            profiler.disable()
        attribute_s = time.monotonic() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        group_by_again_s, _ = raw_group_by(url, MONTH_START, end)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    result = {
        "scenario": "mixed",
        "days": args.days,
        "seed": seeded,
        "input_rows": input_rows,
        "attribute_seconds": round(attribute_s, 2),
        "attribute_input_rows_per_second": round(total_input / attribute_s),
        "lines_written": summary.lines,
        "lines_per_second": round(summary.lines / attribute_s),
        "raw_group_by_seconds": round(min(group_by_s, group_by_again_s), 2),
        "raw_group_by_groups": groups,
        "ratio_attribute_to_group_by": round(attribute_s / min(group_by_s, group_by_again_s), 1),
        "cluster_cost_usd_micros": summary.cluster_cost_usd_micros,
        "conserved": summary.total_usd_micros == summary.cluster_cost_usd_micros,
        "peak_rss_mib": peak,
        "rss_before_attribute_mib": rss_before,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2, default=str))
    out = ROOT / "bench" / "results" / "attribute.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
