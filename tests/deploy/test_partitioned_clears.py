"""A re-collection's deletes on the monthly partitions touch only the rows they name.

Found in session 19: the GPU parts' clear deleted ``WHERE ctid = ANY(ARRAY(SELECT ctid ...))``. A ctid is
a place within one table; on the partitioned schema (deploy/postgres/partitioning.sql) each month is a
table of its own, so the rows at the same places of every other month were deleted too: re-collecting
an hour of November erased GPU samples of October, whose cost then fell to ``__unmeasured__``. Both
clears now delete by key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.stale_rows import clear_gpu_columns, clear_usage_keys
from attribution.store.tables import GpuSample, TenantUsage
from tests.builders import create_gpu_rows, create_usage_row, store
from tests.deploy.test_partitioning import apply_script
from tests.support.postgres import fresh_database

START = datetime(2026, 10, 31, 19, tzinfo=UTC)  # five hours of October, five of November
MINUTES = 600
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def partitioned(pg_server: str) -> Iterator[sessionmaker[Session]]:
    with fresh_database(pg_server) as url:
        upgrade(url)
        apply_script(url)
        engine: Engine = make_engine(url)
        factory = make_sessionmaker(engine)
        usage = [
            create_usage_row(m, ("acme", "globex")[m % 2], "0-4k", 900.0, start=START) for m in range(MINUTES)
        ]
        store(factory, create_gpu_rows(MINUTES, start=START), [], usage)
        yield factory
        engine.dispose()


def _per_month(factory: sessionmaker[Session], model: type[GpuSample] | type[TenantUsage]) -> tuple[int, int]:
    with factory() as session:
        counts = [
            session.scalar(select(func.count()).select_from(model).where(where))
            for where in (model.interval_start < NOVEMBER, model.interval_start >= NOVEMBER)
        ]
    return int(counts[0] or 0), int(counts[1] or 0)


def test_clearing_november_gpus_leaves_october_alone(partitioned: sessionmaker[Session]) -> None:
    october, november = _per_month(partitioned, GpuSample)
    assert october == november > 0
    with partitioned() as session:
        rows = session.execute(
            select(GpuSample.interval_start, GpuSample.gpu_uuid).where(GpuSample.interval_start >= NOVEMBER)
        ).all()
    assert len(rows) >= 500  # the Postgres statement, not the small batches' path
    with partitioned.begin() as session:
        starts = [round(at.timestamp()) for at, _ in rows]
        clear_gpu_columns(session, starts, [uuid for _, uuid in rows], "default")
    assert _per_month(partitioned, GpuSample) == (october, 0)


def test_clearing_november_usage_leaves_october_alone(partitioned: sessionmaker[Session]) -> None:
    october, november = _per_month(partitioned, TenantUsage)
    assert october == november > 0
    u = TenantUsage
    with partitioned() as session:
        rows = session.execute(
            select(u.interval_start, u.pool, u.tenant, u.tier).where(
                u.interval_start >= NOVEMBER, u.tenant == "acme"
            )
        ).all()
    starts = [round(r[0].timestamp()) for r in rows]
    keys = (starts, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    with partitioned.begin() as session:
        clear_usage_keys(session, (min(starts), max(starts)), lambda: keys, "default")
    assert _per_month(partitioned, TenantUsage) == (october, november - len(rows))
    with partitioned() as session:
        assert set(session.scalars(select(u.tenant).where(u.interval_start >= NOVEMBER))) == {"globex"}
