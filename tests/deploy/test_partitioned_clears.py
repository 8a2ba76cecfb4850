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
from typing import Any

import pytest
from sqlalchemy import Engine, case, event, func, select
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
        rows = create_gpu_rows(MINUTES, start=START)  # GPU-0 and GPU-1 in a pool, GPU-2 unallocated
        store(factory, [*rows, *({**r, "cluster": "other"} for r in rows)], [], [])
        yield factory
        engine.dispose()


def _counts(factory: sessionmaker[Session]) -> dict[tuple[str, str, str], int]:
    """Rows per (month, cluster, GPU)."""
    g = GpuSample
    month = case((g.interval_start < NOVEMBER, "october"), else_="november")
    with factory() as session:
        keys = (month, g.cluster, g.gpu_uuid)
        found = session.execute(select(*keys, func.count()).group_by(*keys))
    return {(str(m), str(c), str(u)): int(n) for m, c, u, n in found}


def test_clearing_some_november_gpus_deletes_only_those(partitioned: sessionmaker[Session]) -> None:
    """GPU-0 and GPU-1 of November in the default cluster are cleared: 600 keys, the Postgres statement
    (at least 500). GPU-2 of November, every GPU of October, and the other cluster's GPUs of the same
    names keep every row; the statement's plan reads only November's partition."""
    before = _counts(partitioned)
    assert before[("october", "default", "GPU-0")] == before[("november", "default", "GPU-0")] == 300
    with partitioned() as session:
        named = session.execute(
            select(GpuSample.interval_start, GpuSample.gpu_uuid).where(
                GpuSample.interval_start >= NOVEMBER,
                GpuSample.gpu_uuid.in_(["GPU-0", "GPU-1"]),
                GpuSample.cluster == "default",
            )
        ).all()
    assert len(named) == 600
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.startswith("DELETE FROM gpu_samples"):
            statements.append((statement, parameters))

    engine = partitioned.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with partitioned.begin() as session:
            starts = [round(at.timestamp()) for at, _ in named]
            clear_gpu_columns(session, starts, [uuid for _, uuid in named], "default")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    cleared = {("november", "default", "GPU-0"), ("november", "default", "GPU-1")}
    assert _counts(partitioned) == {key: n for key, n in before.items() if key not in cleared}
    ((statement, parameters),) = statements
    with engine.connect() as conn:
        plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "gpu_samples_p2026_11" in plan and "gpu_samples_p2026_10" not in plan, plan
