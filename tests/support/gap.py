"""Three hours of pool ``small`` with a 20-minute gateway gap in hour 1 (tests/jobs/test_gap_*.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.tables import AttributedCost
from tests.builders import (
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    store,
)

MINUTES = 180
GAP = range(60, 80)


def load(factory: sessionmaker[Session]) -> None:
    ratios = [0.2 if m < 60 or m in GAP else 0.0 for m in range(MINUTES)]
    usage = [create_usage_row(m, "acme", "0-4k", 6_000_000.0) for m in range(60)]
    store(factory, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, ratios), usage)


def stored(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    t = AttributedCost
    with factory() as session:
        rows = session.execute(
            select(
                t.interval_start,
                t.pool,
                t.tenant,
                t.tier,
                t.kv_in_use_usd_micros,
                t.static_usd_micros,
                t.idle_usd_micros,
                t.unmeasured_usd_micros,
            ).order_by(t.interval_start, t.pool, t.tenant, t.tier)
        ).all()
    return [tuple(r) for r in rows]
