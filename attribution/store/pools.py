"""Reads per pool: its stored costs (``pool_costs``, one row per pool and interval) and the GPU and KV
samples it was priced from, summed by the database. Money stays integer micro-USD."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from attribution.store.aggregates import bucket_of
from attribution.store.expressions import AnyRow
from attribution.store.tables import GpuSample, KvSample, PoolCost

#: The money columns of ``pool_costs``, by prefix of ``<name>_usd_micros``, in the order sums return.
MONEY = ("cost", "kv_in_use", "kv_free", "static", "idle", "unmeasured", "recovery")


def pool_exists(session: Session, pool: str) -> bool:
    """Whether ``pool`` ever had a stored cost: one row of the (small) pool table at most."""
    return session.execute(select(PoolCost.pool).where(PoolCost.pool == pool).limit(1)).first() is not None


def pool_totals(
    session: Session, start: datetime, end: datetime, cluster: str | None = None
) -> Sequence[AnyRow]:
    """Per pool with cost in ``[start, end)``, by name: intervals, GPU-intervals, KV capacity and KV in
    use (byte-intervals), whether any interval was estimated (1 or 0), then the sums of :data:`MONEY`.
    Every cluster's rows of a pool name together, or only ``cluster``'s."""
    t = PoolCost
    only = () if cluster is None else (t.cluster == cluster,)
    return session.execute(
        select(
            t.pool,
            func.count(),
            func.sum(t.gpu_count),
            func.sum(t.kv_capacity_bytes),
            func.sum(t.kv_in_use_bytes),
            func.max(case((t.estimated, 1), else_=0)),
            *(func.sum(getattr(t, f"{m}_usd_micros")) for m in MONEY),
        )
        .where(t.interval_start >= start, t.interval_start < end, *only)
        .group_by(t.pool)
        .order_by(t.pool)
    ).all()


def gpu_utilisation(
    session: Session, start: datetime, end: datetime, cluster: str | None = None
) -> dict[str, float]:
    """Per pool, dcgm's GPU utilisation (percent) averaged over its GPU samples of ``[start, end)`` (of
    ``cluster`` only, when given)."""
    g = GpuSample
    only = () if cluster is None else (g.cluster == cluster,)
    rows = session.execute(
        select(g.pool, func.avg(g.gpu_util_percent))
        .where(g.interval_start >= start, g.interval_start < end, g.pool.is_not(None), *only)
        .group_by(g.pool)
    ).all()
    return {str(p): float(u) for p, u in rows if u is not None}


def pool_buckets(
    session: Session, pool: str, start: datetime, end: datetime, step_seconds: int
) -> Sequence[AnyRow]:
    """The pool's sums per ``step_seconds`` bucket aligned to ``start``, in time order: the bucket's Unix
    second, KV capacity, KV in use, then the sums of :data:`MONEY`. Summed in the database, so the rows
    read are the buckets answered, not one per interval."""
    t = PoolCost
    bucket = bucket_of(t.interval_start, int(start.timestamp()), step_seconds).label("bucket")
    return session.execute(
        select(
            bucket,
            func.sum(t.kv_capacity_bytes),
            func.sum(t.kv_in_use_bytes),
            *(func.sum(getattr(t, f"{m}_usd_micros")) for m in MONEY),
        )
        .where(t.pool == pool, t.interval_start >= start, t.interval_start < end)
        .group_by(bucket)
        .order_by(bucket)
    ).all()


def pool_day(session: Session, pool: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The pool's sums over ``[start, end)`` (a day, for efficiency), one query per table: intervals,
    GPU-intervals, cost, KV capacity and in use from ``pool_costs``; the engines' mean requests running;
    the GPUs' mean utilisation (None where not reported)."""
    p, k, g = PoolCost, KvSample, GpuSample
    costs = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(p.gpu_count), 0),
            func.coalesce(func.sum(p.cost_usd_micros), 0),
            func.coalesce(func.sum(p.kv_capacity_bytes), 0),
            func.coalesce(func.sum(p.kv_in_use_bytes), 0),
        ).where(p.pool == pool, p.interval_start >= start, p.interval_start < end)
    ).one()
    running = session.execute(
        select(func.avg(k.requests_running)).where(
            k.pool == pool, k.interval_start >= start, k.interval_start < end
        )
    ).scalar()
    util = session.execute(
        select(func.avg(g.gpu_util_percent)).where(
            g.pool == pool, g.interval_start >= start, g.interval_start < end
        )
    ).scalar()
    return {
        "intervals": int(costs[0]),
        "gpu_intervals": int(costs[1]),
        "cost": int(costs[2]),
        "capacity": int(costs[3]),
        "in_use": int(costs[4]),
        "running": None if running is None else float(running),
        "util": None if util is None else float(util),
    }


def pool_cost_parts(session: Session, pool: str, start: datetime, end: datetime) -> tuple[int, ...]:
    """The pool's micro-USD over ``[start, end)``: cost, KV in use, static, KV free, idle, unmeasured,
    recovery."""
    p = PoolCost
    row = session.execute(
        select(
            *(
                func.coalesce(func.sum(c), 0)
                for c in (
                    p.cost_usd_micros,
                    p.kv_in_use_usd_micros,
                    p.static_usd_micros,
                    p.kv_free_usd_micros,
                    p.idle_usd_micros,
                    p.unmeasured_usd_micros,
                    p.recovery_usd_micros,
                )
            )
        ).where(p.pool == pool, p.interval_start >= start, p.interval_start < end)
    ).one()
    return tuple(int(v) for v in row)


def pool_gpu_intervals_and_cost(
    session: Session, pool: str, start: datetime, end: datetime
) -> tuple[int, int, int]:
    """The pool's intervals with a cost, GPU-intervals and micro-USD over ``[start, end)``."""
    p = PoolCost
    count, gpus, cost = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(p.gpu_count), 0),
            func.coalesce(func.sum(p.cost_usd_micros), 0),
        ).where(p.pool == pool, p.interval_start >= start, p.interval_start < end)
    ).one()
    return int(count), int(gpus), int(cost)


def cost_and_gpu_intervals_by_pool(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Per pool over ``[start, end)``: micro-USD and GPU-intervals (unordered)."""
    p = PoolCost
    return session.execute(
        select(p.pool, func.sum(p.cost_usd_micros), func.sum(p.gpu_count))
        .where(p.interval_start >= start, p.interval_start < end)
        .group_by(p.pool)
    ).all()


def pools_by_interval(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Per interval of ``[start, end)``, over all pools: idle micro-USD, KV bytes in use, KV capacity."""
    return session.execute(
        select(
            PoolCost.interval_start,
            func.sum(PoolCost.idle_usd_micros),
            func.sum(PoolCost.kv_in_use_bytes),
            func.sum(PoolCost.kv_capacity_bytes),
        )
        .where(PoolCost.interval_start >= start, PoolCost.interval_start < end)
        .group_by(PoolCost.interval_start)
    ).all()


def pool_load(session: Session, pool: str, start: datetime, end: datetime) -> tuple[Any, Any, Any]:
    """The pool's load over ``[start, end)`` as its engines and GPUs reported it: the GPU type most of
    its GPU samples carry; the peaks over intervals of the pool-wide KV tokens in use and requests
    running; the largest KV bytes per token and the mean KV capacity bytes per engine sample. Each is
    None where nothing was reported; the last two as one row."""
    g, k = GpuSample, KvSample
    where_g = (g.pool == pool, g.interval_start >= start, g.interval_start < end)
    where_k = (k.pool == pool, k.interval_start >= start, k.interval_start < end)
    gpu_type = session.execute(
        select(g.gpu_type)
        .where(*where_g)
        .group_by(g.gpu_type)
        .order_by(func.count().desc(), g.gpu_type)
        .limit(1)
    ).scalar()
    engines = (
        select(
            k.interval_start,
            func.sum(k.kv_usage_ratio * k.kv_capacity_tokens).label("tokens"),
            func.sum(k.requests_running).label("running"),
        )
        .where(*where_k)
        .group_by(k.interval_start)
        .subquery()
    )
    peak = session.execute(select(func.max(engines.c.tokens), func.max(engines.c.running))).one()
    kv = session.execute(
        select(func.max(k.kv_bytes_per_token), func.avg(k.kv_capacity_tokens * k.kv_bytes_per_token)).where(
            *where_k
        )
    ).one()
    return gpu_type, peak, kv
