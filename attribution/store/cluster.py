"""Reads of the cluster as a whole: its bill (``cluster_costs``, one row per interval) and the GPUs
serving pools, per interval."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attribution.store.collection_state import known_clusters
from attribution.store.expressions import AnyRow, between, table_of
from attribution.store.tables import ClusterCost, GpuSample


def cluster_cost_usd_micros(
    session: Session, start: datetime, end: datetime, cluster: str | None = None
) -> tuple[int, int]:
    """The bill over the window from stored cluster costs (every cluster's, or ``cluster``'s), and how many
    intervals are attributed: for every cluster, the fewest any known cluster has, so that a window is
    whole only when each cluster is attributed through it. The known clusters are those with a stored
    cost or a watermark: a cluster whose source was down from the start has no cost yet, but has its
    collectors' watermarks."""
    t = table_of(ClusterCost)
    stmt = select(t.c.cluster, func.coalesce(func.sum(t.c.cost_usd_micros), 0), func.count()).where(
        between(ClusterCost, start, end)
    )
    if cluster is not None:
        stmt = stmt.where(t.c.cluster == cluster)
    rows = session.execute(stmt.group_by(t.c.cluster)).all()
    counts = {str(name): int(n) for name, _total, n in rows}
    if cluster is None:
        for known in known_clusters(session):
            counts.setdefault(known, 0)
    return sum(int(total) for _name, total, _n in rows), min(counts.values(), default=0)


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
