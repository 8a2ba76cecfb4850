"""The bulk write path: COPY into a temporary table then one upsert on Postgres, batched upserts on SQLite.

Whatever the path, the stored rows are the same: inserted, then overwritten on a second write of the same
keys, the last of duplicate keys winning; and nothing is visible before the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.errors import DatabaseUnavailableError
from attribution.store.session import unit_of_work
from attribution.store.tables import GpuSample, TenantUsage
from attribution.store.writes import COPY_MIN_ROWS, bulk_upsert, upsert
from tests.builders import T0
from tests.support.postgres import terminate_backends

N = COPY_MIN_ROWS * 3


def usage_rows(n: int, scale: float = 1.0) -> list[dict[str, Any]]:
    return [
        {
            "interval_start": T0 + timedelta(minutes=i // 40),
            "pool": "pool-a",
            "tenant": f"tenant-{i % 40:02d}",
            "tier": "0-4k",
            "requests": i,
            "prompt_tokens": 1000 * i,
            "generation_tokens": 100 * i,
            "kv_token_seconds": scale * i * 1.5,
        }
        for i in range(n)
    ]


def stored(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with factory() as session:
        columns = [c for c in TenantUsage.__table__.columns if c.name != "cluster"]  # all the default's
        return [
            tuple(r) for r in session.execute(select(*columns).order_by(*TenantUsage.__table__.primary_key))
        ]


def test_insert_then_overwrite_gives_the_same_rows_on_every_path(db_factory: sessionmaker[Session]) -> None:
    factory = db_factory
    with unit_of_work(factory) as session:
        assert bulk_upsert(session, TenantUsage, usage_rows(N)) == N
    first = stored(factory)
    assert len(first) == N and first[1][-1] == 1.5
    with unit_of_work(factory) as session:
        bulk_upsert(session, TenantUsage, usage_rows(N, scale=2.0))
    second = stored(factory)
    assert len(second) == N and second[1][-1] == 3.0
    with unit_of_work(factory) as session:  # the same through the executemany upsert
        upsert(session, TenantUsage, usage_rows(N, scale=2.0))
    assert stored(factory) == second


def test_the_last_of_duplicate_keys_wins(pg_factory: sessionmaker[Session]) -> None:
    rows = usage_rows(N)
    duplicate = dict(rows[7], requests=-1)
    with unit_of_work(pg_factory) as session:
        assert bulk_upsert(session, TenantUsage, [*rows, duplicate]) == N
    assert next(r for r in stored(pg_factory) if r[2] == "tenant-07" and r[0] == T0)[4] == -1


def test_nothing_is_visible_before_commit_and_a_rollback_leaves_nothing(
    pg_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError), unit_of_work(pg_factory) as session:
        bulk_upsert(session, TenantUsage, usage_rows(N))
        bulk_upsert(session, TenantUsage, usage_rows(N, scale=3.0))  # the temp table is reused
        with pg_factory() as other:
            assert other.scalar(select(func.count()).select_from(TenantUsage)) == 0
        raise RuntimeError("the job failed after writing")
    assert stored(pg_factory) == []


def test_copy_refuses_naive_timestamps_like_the_orm(pg_factory: sessionmaker[Session]) -> None:
    rows = usage_rows(N)
    rows[3]["interval_start"] = datetime(2026, 11, 2)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive datetime"), unit_of_work(pg_factory) as session:
        bulk_upsert(session, TenantUsage, rows)


def test_a_connection_lost_during_copy_is_a_database_outage(
    pg_factory: sessionmaker[Session], pg_url: str
) -> None:
    from sqlalchemy.engine import make_url

    with pytest.raises(DatabaseUnavailableError), unit_of_work(pg_factory) as session:
        bulk_upsert(session, TenantUsage, usage_rows(10))  # connects
        terminate_backends(pg_url, make_url(pg_url).database or "")
        bulk_upsert(session, GpuSample, [])  # no rows: no round trip
        bulk_upsert(session, TenantUsage, usage_rows(N))
    with unit_of_work(pg_factory) as session:  # the pool hands out a live connection again
        assert bulk_upsert(session, TenantUsage, usage_rows(N)) == N
