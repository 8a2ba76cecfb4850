"""Benchmark of the collectors' write path on Postgres: rows/s of ours against a raw COPY of the same rows.

Run: .venv/bin/python bench/bench_collect.py [--rows 200000] [--database-url postgresql://...]
Without a URL it starts a throwaway cluster (tests/support/postgres.py; Debian's postgresql binaries).
Prints figures and writes bench/results/collect.json. A benchmark, not a test: no thresholds.

Measured, for ``gpu_samples`` and ``tenant_usage`` rows (their real shapes), each in a fresh table:
* ``raw_copy``: binary COPY straight into the table, no conflict handling: the ceiling;
* ``bulk_upsert_insert``: our path (COPY into a temp table, then INSERT ... ON CONFLICT) on an empty table;
* ``bulk_upsert_update``: the same rows again, every one a conflict (a re-collected window);
* ``executemany_upsert``: the previous path (multi-row INSERT ... ON CONFLICT, 2,000 rows a batch).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker  # noqa: E402

from attribution.store.migrate import upgrade  # noqa: E402
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from attribution.store.tables import DEFAULT_CLUSTER, GpuSample, TenantUsage  # noqa: E402
from attribution.store.writes import _PG_COPY_TYPES, bulk_upsert, upsert  # noqa: E402
from tests.support.postgres import fresh_database_on  # noqa: E402

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def gpu_rows(n: int) -> list[dict[str, Any]]:
    gpus = 64
    return [
        {
            "interval_start": T0 + timedelta(minutes=i // gpus),
            "cluster": DEFAULT_CLUSTER,
            "gpu_uuid": f"GPU-{i % gpus:08x}-0000-0000-0000-000000000000",
            "hostname": f"gpu-node-{i % gpus // 8:02d}",
            "gpu_model_name": "NVIDIA H200",
            "gpu_type": "H200-SXM",
            "pool": "llama-405b" if i % gpus < 48 else None,
            "fb_used_bytes": 138_694_098_944,
            "fb_free_bytes": 10_990_125_056,
            "gpu_util_percent": float(i % 100),
            "part": "",  # a whole GPU, as most are
            "fb_reserved_bytes": None,
            "gpu_share_ppm": None,
            "problem": None,
            "power_milliwatts": 612_000,
        }
        for i in range(n)
    ]


def usage_rows(n: int) -> list[dict[str, Any]]:
    groups = 200
    return [
        {
            "interval_start": T0 + timedelta(minutes=i // groups),
            "cluster": DEFAULT_CLUSTER,
            "pool": f"pool-{i % 4}",
            "tenant": f"tenant-{i % groups // 4:03d}",
            "tier": ("0-4k", "4k-32k", "32k-128k", "128k+")[i % 4],
            "requests": i % 17,
            "prompt_tokens": 1500 * (i % 17),
            "generation_tokens": 300 * (i % 17),
            "kv_token_seconds": 12_345.678 * (i % 17),
        }
        for i in range(n)
    ]


def truncate(factory: sessionmaker[Session], model: type[DeclarativeBase]) -> None:
    with unit_of_work(factory) as session:
        session.execute(text(f'TRUNCATE "{model.__tablename__}"'))


def raw_copy(
    factory: sessionmaker[Session], model: type[DeclarativeBase], rows: list[dict[str, Any]]
) -> None:
    table = model.__table__
    names = [c.name for c in table.columns]
    types = [_PG_COPY_TYPES[type(c.type).__name__.replace("UTC", "")] for c in table.columns]
    with unit_of_work(factory) as session:
        driver = session.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(n) for n in names)
        )
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row([row[n] for n in names])


def timed(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a Postgres server (a database is created)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "collect.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with fresh_database_on(args.database_url) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        for model, make in ((GpuSample, gpu_rows), (TenantUsage, usage_rows)):
            rows = make(args.rows)

            def ours(rows: list[dict[str, Any]] = rows, model: type[DeclarativeBase] = model) -> None:
                with unit_of_work(factory) as session:
                    bulk_upsert(session, model, rows)

            def executemany(rows: list[dict[str, Any]] = rows, model: type[DeclarativeBase] = model) -> None:
                with unit_of_work(factory) as session:
                    upsert(session, model, rows)

            def fresh(fn: Callable[[], None], model: type[DeclarativeBase] = model) -> Callable[[], None]:
                def run() -> None:
                    truncate(factory, model)
                    fn()

                return run

            seconds = {
                "raw_copy": timed(fresh(lambda r=rows, m=model: raw_copy(factory, m, r)), args.repeat),
                "bulk_upsert_insert": timed(fresh(ours), args.repeat),
                "bulk_upsert_update": timed(ours, args.repeat),  # the table is full from the line above
                "executemany_upsert": timed(fresh(executemany), args.repeat),
            }
            per_second = {k: round(args.rows / v) for k, v in seconds.items()}
            results[model.__tablename__] = {
                "rows": args.rows,
                "rows_per_second": per_second,
                "vs_raw_copy": {k: round(v / per_second["raw_copy"], 3) for k, v in per_second.items()},
            }
            print(f"{model.__tablename__} ({args.rows} rows):")
            for name, rate in per_second.items():
                print(f"  {name:20s} {rate:>10,d} rows/s  ({rate / per_second['raw_copy']:.0%} of raw COPY)")
        with engine.connect() as conn:
            server = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    out = {
        "results": results,
        "postgres": server,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "note": "best of --repeat runs; fsync=off on the throwaway cluster",
    }
    args.out.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
