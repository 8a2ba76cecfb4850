"""A re-collection's delete of GPU parts on the monthly partitions touches only the rows it names.

Found in session 19: the GPU parts' clear deleted ``WHERE ctid = ANY(ARRAY(SELECT ctid ...))``. A ctid is
a place within one table; on the partitioned schema (deploy/postgres/partitioning.sql) each month is a
table of its own, so the rows at the same places of every other month were deleted too: re-collecting
an hour of November erased GPU samples of October, whose cost then fell to ``__unmeasured__``. The
clear now deletes by key.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.stale_rows import clear_gpu_columns
from attribution.store.tables import GpuSample
from tests.builders import create_gpu_rows, store
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
        store(factory, create_gpu_rows(MINUTES, start=START), [], [])
        yield factory
        engine.dispose()


def _per_month(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as session:
        counts = [
            session.scalar(select(func.count()).select_from(GpuSample).where(where))
            for where in (GpuSample.interval_start < NOVEMBER, GpuSample.interval_start >= NOVEMBER)
        ]
    return int(counts[0] or 0), int(counts[1] or 0)


def test_clearing_november_gpus_leaves_october_alone(partitioned: sessionmaker[Session]) -> None:
    october, november = _per_month(partitioned)
    assert october == november > 0
    with partitioned() as session:
        rows = session.execute(
            select(GpuSample.interval_start, GpuSample.gpu_uuid).where(GpuSample.interval_start >= NOVEMBER)
        ).all()
    assert len(rows) >= 500  # the Postgres statement, not the small batches' path
    with partitioned.begin() as session:
        starts = [round(at.timestamp()) for at, _ in rows]
        clear_gpu_columns(session, starts, [uuid for _, uuid in rows], "default")
    assert _per_month(partitioned) == (october, 0)
