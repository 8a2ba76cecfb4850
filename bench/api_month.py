"""The synthetic month the API benches serve: a month of lines for N tenants written straight into
``attributed_costs`` by binary COPY, with its cluster costs, one attribution run and the daily rollups.

Used by bench/bench_api.py, bench/wrk_load.py and bench/bench_rollups.py, so all three measure the same
month. Collecting and attributing a month of 1,000 tenants would take far longer and is measured
elsewhere (bench/bench_scale.py); here only the stored shape matters: one line per tenant x tier x pool
per stored grain (an hour by default), each tenant in two of four tiers on each of two pools.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from attribution.store.rollups import refresh_rollups  # noqa: E402
from attribution.store.session import unit_of_work  # noqa: E402

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
TIERS = ("0-4k", "4k-32k", "32k-128k", "128k+")
POOLS = ("llama-70b", "mistral-small")


def _copy(
    factory: sessionmaker[Session],
    table: str,
    columns: list[str],
    types: list[str],
    rows: Iterator[tuple[Any, ...]],
) -> int:
    n = 0
    with unit_of_work(factory) as session:
        driver = session.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def seed_month(
    factory: sessionmaker[Session], tenants: int, grain_seconds: int, interval_seconds: int
) -> dict[str, Any]:
    """A month of lines for ``tenants`` tenants; money is random but exact, usage plausible."""
    rng = random.Random(7)
    weights = [rng.paretovariate(1.2) for _ in range(tenants)]  # a few big tenants, a long tail
    grains = int((DEC - NOV).total_seconds()) // grain_seconds
    columns = [
        "interval_start",
        "pool",
        "tenant",
        "tier",
        "estimated",
        "kv_in_use_usd_micros",
        "static_usd_micros",
    ]
    columns += [
        "idle_usd_micros",
        "unmeasured_usd_micros",
        "total_usd_micros",
        "kv_token_seconds",
        "kv_byte_seconds",
    ]
    columns += ["requests", "prompt_tokens", "generation_tokens"]
    types = [
        "timestamptz",
        "text",
        "text",
        "text",
        "bool",
        "int8",
        "int8",
        "int8",
        "int8",
        "int8",
        "float8",
        "float8",
    ]
    types += ["int8", "int8", "int8"]
    total = 0

    def lines() -> Iterator[tuple[Any, ...]]:
        nonlocal total
        for g in range(grains):
            start = NOV + timedelta(seconds=g * grain_seconds)
            for i in range(tenants):
                tenant = f"tenant-{i:04d}"
                w = weights[i]
                for pool in POOLS:
                    for tier in (TIERS[i % 4], TIERS[(i + 1) % 4]):
                        kv, static, idle = int(900 * w) + g % 7, int(400 * w), int(250 * w) + i % 3
                        cost = kv + static + idle
                        total += cost
                        seconds = 3.5e4 * w
                        yield (
                            start,
                            pool,
                            tenant,
                            tier,
                            False,
                            kv,
                            static,
                            idle,
                            0,
                            cost,
                            seconds,
                            seconds * 163840.0,
                            int(12 * w) + 1,
                            int(18000 * w),
                            int(2500 * w),
                        )

    began = time.perf_counter()
    n = _copy(factory, "attributed_costs", columns, types, lines())
    intervals = int((DEC - NOV).total_seconds()) // interval_seconds
    per_interval, rest = divmod(total, intervals)
    cluster = (
        (NOV + timedelta(seconds=k * interval_seconds), per_interval + (k < rest), 0, 0, 0, 64, 64)
        for k in range(intervals)
    )
    _copy(
        factory,
        "cluster_costs",
        [
            "interval_start",
            "cost_usd_micros",
            "unallocated_usd_micros",
            "unmeasured_usd_micros",
            "overhead_usd_micros",
            "gpus_in_inventory",
            "gpus_sampled",
        ],
        ["timestamptz", "int8", "int8", "int8", "int8", "int4", "int4"],
        cluster,
    )
    with unit_of_work(factory) as session:
        session.execute(
            text(
                "INSERT INTO attribution_runs (ran_at, window_start, window_end, lines, total_usd_micros) "
                "VALUES (:now, :s, :e, :n, :t)"
            ),
            {"now": datetime.now(UTC), "s": NOV, "e": DEC, "n": n, "t": total},
        )
        refresh_rollups(session, NOV, DEC)  # the attribution job writes them with the lines
        session.execute(text("ANALYZE attributed_costs"))
        session.execute(text("ANALYZE daily_line_sums"))
    return {"lines": n, "seed_seconds": round(time.perf_counter() - began, 1), "total_usd_micros": total}
