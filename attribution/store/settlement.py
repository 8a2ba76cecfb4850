"""Stored weights that idle settlement needs from outside the window a run recomputes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attribution.model.vocabulary import NO_TIER, UNMEASURED
from attribution.store.tables import DEFAULT_CLUSTER, AttributedCost, PoolCost


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
    t = AttributedCost.__table__
    column = t.c.interval_start
    rows = session.execute(
        select(t.c.pool, t.c.tenant, t.c.tier, func.sum(t.c.kv_in_use_usd_micros + t.c.static_usd_micros))
        .where(column >= period_start, column < period_end, (column < start) | (column >= end))
        .where(t.c.cluster == cluster)
        .group_by(t.c.pool, t.c.tenant, t.c.tier)
    ).all()
    out: dict[str, dict[tuple[str, str], int]] = {}
    for pool, tenant, tier, amount in rows:
        if amount:
            out.setdefault(str(pool), {})[(str(tenant), str(tier))] = int(amount)
    # a telemetry gap's missing tenants weigh their non-idle cost, held by __unmeasured__: the pool
    # interval's unmeasured amount (zero outside gaps), as the model's weights hold it in the window
    p = PoolCost.__table__
    column = p.c.interval_start
    gaps = session.execute(
        select(p.c.pool, func.sum(p.c.unmeasured_usd_micros))
        .where(column >= period_start, column < period_end, (column < start) | (column >= end))
        .where(p.c.cluster == cluster)
        .group_by(p.c.pool)
    ).all()
    for pool, amount in gaps:
        if amount:
            out.setdefault(str(pool), {})[(UNMEASURED, NO_TIER)] = int(amount)
    return out
