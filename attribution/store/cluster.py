"""Reads of the cluster as a whole: its bill (``cluster_costs``, one row per interval) and the GPUs
serving pools, per interval."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attribution.store.expressions import AnyRow, between, table_of
from attribution.store.tables import ClusterCost, GpuSample


def cluster_cost_usd_micros(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """The cluster's bill over the window from stored cluster costs, and how many intervals it covers."""
    t = table_of(ClusterCost)
    total, count = session.execute(
        select(func.coalesce(func.sum(t.c.cost_usd_micros), 0), func.count()).where(
            between(ClusterCost, start, end)
        )
    ).one()
    return int(total), int(count)


def cluster_intervals(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Per interval of ``[start, end)``: the cluster's cost and what of it no pool used (unallocated GPUs
    and overheads), in micro-USD."""
    return session.execute(
        select(
            ClusterCost.interval_start,
            ClusterCost.cost_usd_micros,
            ClusterCost.unallocated_usd_micros + ClusterCost.overhead_usd_micros,
        ).where(ClusterCost.interval_start >= start, ClusterCost.interval_start < end)
    ).all()


def cluster_cost_and_gpu_intervals(session: Session, start: datetime, end: datetime) -> AnyRow:
    """The cluster's micro-USD and GPU-intervals in inventory over ``[start, end)`` (None, None: no rows)."""
    c = ClusterCost
    return session.execute(
        select(func.sum(c.cost_usd_micros), func.sum(c.gpus_in_inventory)).where(
            c.interval_start >= start, c.interval_start < end
        )
    ).one()


def gpu_util_by_interval(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Per interval of ``[start, end)``, over the GPUs serving pools: the sum of their utilisation
    (percent) and how many reported it."""
    return session.execute(
        select(
            GpuSample.interval_start,
            func.sum(GpuSample.gpu_util_percent),
            func.count(GpuSample.gpu_util_percent),
        )
        .where(
            GpuSample.interval_start >= start,
            GpuSample.interval_start < end,
            GpuSample.pool.is_not(None),
        )
        .group_by(GpuSample.interval_start)
    ).all()
