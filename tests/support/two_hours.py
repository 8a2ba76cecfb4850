"""Two hours of pool ``small``: acme all along, umbrella's long contexts every third minute (tests/jobs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.tables import AttributedCost
from tests.builders import (
    KV_CAPACITY_TOKENS,
    T0,
    create_usage_row,
)

MINUTES = 120


def usage_rows() -> list[dict[str, Any]]:
    rows = []
    for m in range(MINUTES):
        rows.append(create_usage_row(m, "acme", "0-4k", 1_000_000.0 + 1_000.0 * m))
        if m % 3 == 0:
            rows.append(create_usage_row(m, "umbrella", "128k+", 20_000_000.0))
    # a quiet hour-long stretch would be idle; minute 119 has nobody
    return [r for r in rows if r["interval_start"] != T0 + timedelta(minutes=119)]


def consistent_usage_ratios(rows: list[dict[str, Any]]) -> list[float]:
    """The engine's mean KV usage that the tenants' token-seconds imply, minute by minute."""
    per_minute = [0.0] * MINUTES
    for r in rows:
        per_minute[int((r["interval_start"] - T0).total_seconds()) // 60] += r["kv_token_seconds"]
    return [w / (KV_CAPACITY_TOKENS * 60) for w in per_minute]


def lines(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with factory() as session:
        rows = session.execute(
            select(
                AttributedCost.interval_start,
                AttributedCost.pool,
                AttributedCost.tenant,
                AttributedCost.tier,
                AttributedCost.kv_in_use_usd_micros,
                AttributedCost.static_usd_micros,
                AttributedCost.idle_usd_micros,
                AttributedCost.unmeasured_usd_micros,
            ).order_by(
                AttributedCost.interval_start, AttributedCost.pool, AttributedCost.tenant, AttributedCost.tier
            )
        ).all()
    return [tuple(r) for r in rows]
