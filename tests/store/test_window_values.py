"""Pool costs written as value tuples (``replace_window_values``) are the rows ``replace_window`` writes
from dicts, on both databases, through the COPY path (Postgres, many rows) and the INSERT path alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import POOL_COST_COLUMNS
from attribution.store.tables import PoolCost
from attribution.store.writes import COPY_MIN_ROWS, replace_window, replace_window_values

START = datetime(2026, 10, 1, tzinfo=UTC)


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
        assert (
            replace_window_values(session, PoolCost, START, end, POOL_COST_COLUMNS, first, cluster="default")
            == n
        )
        session.commit()
    assert sorted(_stored(db_factory)) == sorted(first + other)
    with db_factory() as session:  # a re-run replaces its cluster's window, never adds, never touches another
        replace_window_values(session, PoolCost, START, end, POOL_COST_COLUMNS, again, cluster="default")
        session.commit()
    assert sorted(_stored(db_factory)) == sorted(again + other)
