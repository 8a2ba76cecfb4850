"""deploy/postgres/partitioning.sql: the stored intervals range-partitioned by UTC month give the same
attribution, reports, analyst views and closed statements as the unpartitioned schema.

Two fresh databases migrated alike; the script converts one (twice: it is idempotent). The same
telemetry, crossing a month boundary, is stored in both and attributed; every stored row, the chargeback,
the daily views and both months' (provisional) statements must be equal, and the rows must sit in two monthly
partitions, none in the default one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.reports.chargeback import build_chargeback
from attribution.reports.period_statement import build_statement
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost, GpuSample, KvSample, TenantUsage
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store
from tests.support.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "postgres" / "partitioning.sql"
TABLES = ("attributed_costs", "tenant_usage", "gpu_samples", "kv_samples")
START = datetime(2026, 10, 31, 22, tzinfo=UTC)  # two hours of October, two of November
MINUTES = 240
END = START + timedelta(minutes=MINUTES)


def apply_script(url: str) -> None:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(SCRIPT.read_text(encoding="utf-8"))  # type: ignore[arg-type]  # BEGIN ... COMMIT


@pytest.fixture
def two_databases(pg_server: str) -> Iterator[tuple[Engine, Engine, str]]:
    """Two migrated databases; the script is applied by the test (to the second, named by the URL)."""
    with fresh_database(pg_server) as plain_url, fresh_database(pg_server) as partitioned_url:
        upgrade(plain_url)
        upgrade(partitioned_url)
        plain, partitioned = make_engine(plain_url), make_engine(partitioned_url)
        yield plain, partitioned, partitioned_url
        plain.dispose()
        partitioned.dispose()


def fill(factory: sessionmaker[Session]) -> None:
    tenants = ("acme", "globex", "initech")
    usage = [
        create_usage_row(
            m, tenants[(m // 7) % 3], ("0-4k", "4k-32k")[m % 2], 900.0 + 37 * (m % 11), start=START
        )
        for m in range(MINUTES)
        if m % 5
    ]
    ratios = [0.1 + 0.8 * ((m * 17) % 23) / 23 for m in range(MINUTES)]
    store(factory, create_gpu_rows(MINUTES, start=START), create_kv_rows(MINUTES, ratios, start=START), usage)


def everything(factory: sessionmaker[Session]) -> dict[str, Any]:
    settings = small_cluster_settings()
    out: dict[str, Any] = {}
    with factory() as session:
        for model in (AttributedCost, TenantUsage, GpuSample, KvSample):
            keys = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = session.execute(select(model.__table__).order_by(*keys)).all()
        out["chargeback"] = build_chargeback(session, START, END, settings.interval_seconds).to_dict()
        for view in ("daily_tenant_costs", "daily_tier_costs", "daily_pool_costs"):
            out[view] = session.execute(text(f"SELECT * FROM {view} ORDER BY 1, 2")).all()
    with factory() as session:
        for period in ("2026-10", "2026-11"):
            out[f"statement {period}"] = build_statement(session, period).to_dict()
    return out


def test_partitioned_tables_give_the_same_results(two_databases: tuple[Engine, Engine, str]) -> None:
    """A running deployment converted in place: its rows are copied, and a re-run replaces them alike."""
    settings = small_cluster_settings()
    *engines, partitioned_url = two_databases
    for engine in engines:
        fill(make_sessionmaker(engine))
        run_attribution(settings, make_sessionmaker(engine), START, END)
    apply_script(partitioned_url)  # with rows in every table, and the analyst views reading one
    apply_script(partitioned_url)  # idempotent
    results = []
    for engine in engines:
        factory = make_sessionmaker(engine)
        run_attribution(settings, factory, START, END)  # replaces its window's lines
        results.append(everything(factory))
    plain, partitioned = results
    assert plain["attributed_costs"], "nothing was attributed"
    assert plain.keys() == partitioned.keys()
    for key in plain:
        assert plain[key] == partitioned[key], key

    with two_databases[1].connect() as conn:
        for table in TABLES:
            assert conn.scalar(
                text("SELECT count(*) FROM pg_partitioned_table WHERE partrelid = CAST(:t AS regclass)"),
                {"t": table},
            ), f"{table} is not partitioned"
            where = dict(
                conn.execute(text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")).all()
            )
            assert set(where) == {f"{table}_p2026_10", f"{table}_p2026_11"}, where


def test_a_month_is_pruned_and_dropped_by_partition(two_databases: tuple[Engine, Engine, str]) -> None:
    """What the partitions are for: a query of one month reads one partition; a month goes at once."""
    _, engine, url = two_databases
    apply_script(url)  # on empty tables, before anything is collected
    factory = make_sessionmaker(engine)
    fill(factory)
    run_attribution(small_cluster_settings(), factory, START, END)
    with engine.begin() as conn:
        plan = "\n".join(
            conn.execute(
                text(
                    "EXPLAIN SELECT sum(total_usd_micros) FROM attributed_costs "
                    "WHERE interval_start >= '2026-11-01T00:00:00Z' "
                    "AND interval_start < '2026-12-01T00:00:00Z'"
                )
            ).scalars()
        )
        assert "attributed_costs_p2026_11" in plan and "attributed_costs_p2026_10" not in plan, plan
        assert conn.scalar(text("SELECT attribution_ensure_partitions('attributed_costs', 3)")) == 0
        conn.execute(text("DROP TABLE attributed_costs_p2026_10"))
        remaining = conn.scalar(text("SELECT min(interval_start) FROM attributed_costs"))
    assert remaining == datetime(2026, 11, 1, tzinfo=UTC)
