"""Pool costs written as columns (``replace_window_columns``, as the attribution job writes them) are the
rows ``replace_window`` writes from dicts, on both databases, through the COPY path (Postgres, many rows)
and the INSERT path alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.column_copy import Names, replace_window_columns
from attribution.store.tables import PoolCost
from attribution.store.writes import COPY_MIN_ROWS, replace_window

START = datetime(2026, 10, 1, tzinfo=UTC)
POOL_COST_COLUMNS = (
    "interval_start",
    "pool",
    "cluster",
    "gpu_count",
    "memory_bytes",
    "kv_capacity_bytes",
    "kv_in_use_bytes",
    "cost_usd_micros",
    "kv_in_use_usd_micros",
    "kv_free_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "unmeasured_usd_micros",
    "recovery_usd_micros",
    "estimated",
)
POOLS = [f"pool-{i}" for i in range(4)]


def _rows(n: int, cluster: str, offset: int = 0) -> list[tuple[Any, ...]]:
    return [
        (
            START + timedelta(minutes=i // 4),
            f"pool-{i % 4}",
            cluster,
            *(8, 80, 60, 30 + offset, 1_000 + i, 400, 200, 300, 100 + offset, i % 3, 0),
            i % 2 == 0,
        )
        for i in range(n)
    ]


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """``rows`` (one cluster's) as the columns the attribution job hands over."""
    values = dict(zip(POOL_COST_COLUMNS, zip(*rows, strict=True), strict=True))
    columns: dict[str, Any] = {n: np.array(v) for n, v in values.items()}
    columns["interval_start"] = np.array([int(t.timestamp()) for t in values["interval_start"]])
    columns["pool"] = Names(np.array([POOLS.index(p) for p in values["pool"]]), POOLS)
    columns["cluster"] = rows[0][2]
    return columns


def _stored(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    t = PoolCost.__table__
    with factory() as session:
        found = session.execute(select(*(t.c[n] for n in POOL_COST_COLUMNS)).order_by(*t.primary_key))
        return [tuple(r) for r in found]


@pytest.mark.parametrize("n", [COPY_MIN_ROWS + 100, 10])
def test_values_write_what_dicts_write_and_replace(db_factory: sessionmaker[Session], n: int) -> None:
    end = START + timedelta(days=1)
    first, again = _rows(n, "default"), _rows(n, "default", offset=5)
    other = _rows(n, "other")
    with db_factory() as session:
        replace_window(
            session,
            PoolCost,
            START,
            end,
            [dict(zip(POOL_COST_COLUMNS, r, strict=True)) for r in other],
            cluster="other",
        )
        written = replace_window_columns(session, PoolCost, START, end, _columns(first), n, cluster="default")
        assert written == n
        session.commit()
    assert sorted(_stored(db_factory)) == sorted(first + other)
    with db_factory() as session:  # a re-run replaces its cluster's window, never adds, never touches another
        replace_window_columns(session, PoolCost, START, end, _columns(again), n, cluster="default")
        session.commit()
    assert sorted(_stored(db_factory)) == sorted(again + other)
