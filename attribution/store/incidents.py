"""The SQL of recovery incidents: the GPUs of the incidents found, the pools watched, the incidents table,
and :func:`detection_inputs`, detection's inputs as objects from a scan of its own: the attribution job
detects from the rows it already read (:mod:`attribution.ledger.incident_columns`), and tests hold it to
the incidents :func:`attribution.model.incidents.detect_incidents` finds over these.

Detection reads only what the GPU and KV collectors already store (``gpu_samples``, ``kv_samples``); the
cost of an incident is the pool's cost in its intervals from ``pool_costs``, which the pool's lines sum to
exactly (conservation), so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from attribution.model.incidents import PoolInterval
from attribution.store.dialect import is_postgres
from attribution.store.expressions import epoch
from attribution.store.tables import DEFAULT_CLUSTER, GpuSample, KvSample, RecoveryIncident, TenantUsage

UUID_SEPARATOR = "\x1f"
"""Joins a pool-interval's GPU UUIDs in one string (ASCII unit separator: in no UUID); one string per row
transfers and splits faster than a ``text[]``, which the driver parses element by element."""


_GPUS_BY_POOL_INTERVAL = """
WITH gpus AS (
  SELECT interval_start, pool,
         string_agg(gpu_uuid COLLATE "C", E'\\x1f' ORDER BY gpu_uuid COLLATE "C") AS uuids,
         sum(fb_used_bytes) AS fb, count(fb_used_bytes) AS fb_count
  FROM gpu_samples
  WHERE pool IS NOT NULL AND interval_start >= :start AND interval_start < :end AND cluster = :cluster
  GROUP BY interval_start, pool
), engines AS (
  SELECT interval_start, pool, count(*) AS n, sum(kv_capacity_tokens) AS capacity,
         count(kv_capacity_tokens) AS known
  FROM kv_samples
  WHERE interval_start >= :start AND interval_start < :end AND cluster = :cluster
  GROUP BY interval_start, pool
)
SELECT CAST(extract(epoch FROM g.interval_start) AS BIGINT), g.pool, g.uuids, g.fb, g.fb_count,
       EXISTS (SELECT 1 FROM tenant_usage u
               WHERE u.interval_start = g.interval_start AND u.pool = g.pool AND u.cluster = :cluster
                 AND u.kv_token_seconds > 0),
       coalesce(e.n, 0), e.capacity, coalesce(e.known, 0)
FROM gpus g LEFT JOIN engines e ON e.interval_start = g.interval_start AND e.pool = g.pool
"""


def detection_inputs(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> list[PoolInterval]:
    """Per pool and interval of ``[start, end)`` in which dcgm sampled a GPU of the pool: its GPUs, its
    mean framebuffer used per GPU (part), its engines' KV samples (count and summed capacity), and whether
    the gateway reported KV token-seconds there (requests were running: never an incident).

    Grouped by the database, one row per pool-interval: a fleet has a thousand GPU rows per interval,
    and reading them one by one was a fifth of the attribution job. The mean is the exact integer sum
    over the count, divided here (one correctly rounded division, as ``sum(used) / len(used)``)."""
    if is_postgres(session):
        return _grouped_by_postgres(session, start, end, cluster)
    grouped: dict[tuple[int, str], tuple[tuple[str, ...], int, int]] = {}
    g = GpuSample
    where = (g.pool.is_not(None), g.interval_start >= start, g.interval_start < end, g.cluster == cluster)
    for at, pool, uuid, fb_used in session.execute(
        select(epoch(g.interval_start), g.pool, g.gpu_uuid, g.fb_used_bytes).where(*where)
    ):
        gpus, fb, n = grouped.get((int(at), str(pool)), ((), 0, 0))
        if uuid not in gpus:
            gpus = tuple(sorted((*gpus, uuid)))
        if fb_used is not None:
            fb, n = fb + int(fb_used), n + 1
        grouped[(int(at), str(pool))] = (gpus, fb, n)
    u = TenantUsage
    served_rows = session.execute(
        select(epoch(u.interval_start), u.pool)
        .where(
            u.interval_start >= start,
            u.interval_start < end,
            u.kv_token_seconds > 0,
            u.cluster == cluster,
        )
        .distinct()
    )
    serving = {(int(at), str(pool)) for at, pool in served_rows}
    k = KvSample
    kv_rows = session.execute(
        select(
            epoch(k.interval_start),
            k.pool,
            func.count(),
            func.sum(k.kv_capacity_tokens),
            func.count(k.kv_capacity_tokens),
        )
        .where(k.interval_start >= start, k.interval_start < end, k.cluster == cluster)
        .group_by(k.interval_start, k.pool)
    )
    engines = {
        (int(at), pool): (int(n), int(cap or 0) if known else None) for at, pool, n, cap, known in kv_rows
    }
    out = []
    for (at, pool), (uuids, fb_sum, fb_count) in sorted(grouped.items()):
        n, capacity = engines.get((at, pool), (0, None))
        out.append(_pool_interval(pool, at, uuids, fb_sum, fb_count, n, capacity, (at, pool) in serving))
    return out


def _grouped_by_postgres(
    session: Session, start: datetime, end: datetime, cluster: str
) -> list[PoolInterval]:
    """:func:`detection_inputs` in one statement: GPUs, framebuffer, engines and gateway use per
    pool-interval, grouped and joined by the database (the engines were a second query and a dict)."""
    rows = session.execute(text(_GPUS_BY_POOL_INTERVAL), {"start": start, "end": end, "cluster": cluster})
    # the UUIDs come sorted by code point (C collation), as Python sorts, a GPU's parts side by side;
    # most intervals repeat an earlier one's GPUs
    seen: dict[str, tuple[str, ...]] = {}
    out = []
    for at, pool, joined, fb, fb_count, served, n, capacity, known in rows:
        gpus = seen.get(joined)
        if gpus is None:
            gpus = seen[joined] = tuple(dict.fromkeys(joined.split(UUID_SEPARATOR)))
        kv = int(capacity or 0) if known else None
        out.append(_pool_interval(str(pool), int(at), gpus, int(fb or 0), int(fb_count), int(n), kv, served))
    out.sort(key=lambda p: (p.start_s, p.pool))
    return out


def _pool_interval(
    pool: str,
    at: int,
    gpus: tuple[str, ...],
    fb_sum: int,
    fb_count: int,
    engines: int,
    capacity: int | None,
    serving: bool,
) -> PoolInterval:
    return PoolInterval(
        pool=pool,
        start_s=at,
        gpus=gpus,
        engines=engines,
        kv_capacity_tokens=capacity,
        fb_used_bytes=fb_sum / fb_count if fb_count else None,
        serving=bool(serving),
    )


def incident_gpus(
    session: Session, pool: str, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> tuple[str, ...]:
    """The GPUs dcgm sampled in ``pool`` in ``[start, end)`` (an incident's intervals), sorted by code
    point: read for the incidents found only, not for every pool-interval detection looks at. The
    collectors write on the interval grid, so the span holds the incident's intervals and no other."""
    g = GpuSample
    where = (g.pool == pool, g.interval_start >= start, g.interval_start < end, g.cluster == cluster)
    return tuple(
        sorted(str(uuid) for (uuid,) in session.execute(select(g.gpu_uuid).where(*where).distinct()))
    )


def pools_with_engines(
    session: Session,
    since: datetime,
    end: datetime,
    cluster: str = DEFAULT_CLUSTER,
    among: Collection[str] | None = None,
) -> set[str]:
    """Pools an engine of which has a KV sample in ``[since, end)``: the pools whose engines are watched.
    ``among``: only these pools are asked about (the job asks about the pools of its incidents only)."""
    k = KvSample
    where = [k.interval_start >= since, k.interval_start < end, k.cluster == cluster]
    if among is not None:
        if not among:
            return set()
        where.append(k.pool.in_(sorted(among)))
    rows = session.execute(select(k.pool).where(*where).distinct())
    return {pool for (pool,) in rows}


def replace_incidents(
    session: Session, start: datetime, end: datetime, rows: Sequence[dict[str, Any]], cluster: str
) -> None:
    """The incidents of ``cluster`` starting in ``[start, end)`` become ``rows``: re-detecting a window
    replaces it."""
    r = RecoveryIncident
    session.execute(delete(r).where(r.start_at >= start, r.start_at < end, r.cluster == cluster))
    if rows:
        session.execute(insert(r), [{**row, "cluster": cluster} for row in rows])


def incidents(
    session: Session, start: datetime, end: datetime, pool: str | None = None
) -> list[RecoveryIncident]:
    """The stored incidents that overlap ``[start, end)``, by start then pool; of one pool if given."""
    r = RecoveryIncident
    query = select(r).where(r.start_at < end, r.end_at > start)
    if pool is not None:
        query = query.where(r.pool == pool)
    return list(session.scalars(query.order_by(r.start_at, r.pool)))
