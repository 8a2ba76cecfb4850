"""Stored weights that idle settlement needs from outside the window a run recomputes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attribution.model.vocabulary import NO_TIER, UNMEASURED
from attribution.store.daysums import span
from attribution.store.tables import DEFAULT_CLUSTER, PoolCost


def non_idle_weights_outside(
    session: Session,
    period_start: datetime,
    period_end: datetime,
    start: datetime,
    end: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> dict[str, dict[tuple[str, str], int]]:
    """Per pool, each tenant x tier's stored non-idle cost (KV in use + static) in the period outside
    ``[start, end)``: the period-level weights of idle settlement for a run that recomputes part of it.
    ``__unmeasured__`` weighs what the pool's telemetry gaps there left unmeasured (pool_costs)."""
    rows = [
        *_non_idle(session, period_start, min(start, period_end), cluster),
        *_non_idle(session, max(end, period_start), period_end, cluster),
    ]
    out: dict[str, dict[tuple[str, str], int]] = {}
    for pool, tenant, tier, amount in rows:
        if amount:
            weights = out.setdefault(str(pool), {})
            key = (str(tenant), str(tier))
            weights[key] = weights.get(key, 0) + int(amount)
    # a telemetry gap's missing tenants weigh their non-idle cost, held by __unmeasured__: the pool
    # interval's unmeasured amount (zero outside gaps), as the model's weights hold it in the window.
    # Only gap intervals are read (``<> 0``, the predicate of the partial index ix_pool_costs_unmeasured):
    # a pool whose sum would be 0 is left out either way, so the weights are those of every row
    p = PoolCost.__table__
    column = p.c.interval_start
    gaps = session.execute(
        select(p.c.pool, func.sum(p.c.unmeasured_usd_micros))
        .where(column >= period_start, column < period_end, (column < start) | (column >= end))
        .where(p.c.cluster == cluster, p.c.unmeasured_usd_micros != 0)
        .group_by(p.c.pool)
    ).all()
    for pool, amount in gaps:
        if amount:
            out.setdefault(str(pool), {})[(UNMEASURED, NO_TIER)] = int(amount)
    return out


def _non_idle(session: Session, start: datetime, end: datetime, cluster: str) -> list[Any]:
    """Per pool x tenant x tier of ``[start, end)``: KV in use + static micro-USD (whole days from the
    rollups, :mod:`attribution.store.daysums`)."""
    if start >= end:
        return []
    s = span(start, end)
    return list(
        session.execute(
            select(s.c.pool, s.c.tenant, s.c.tier, func.sum(s.c.kv_in_use_usd_micros + s.c.static_usd_micros))
            .where(s.c.cluster == cluster)
            .group_by(s.c.pool, s.c.tenant, s.c.tier)
        ).all()
    )
