"""Recovery incidents of an attribution window, written in the attribution run's transaction.

Detection is :func:`attribution.model.vectorized_incidents.detect_incident_columns` (the rule of
:func:`attribution.model.incidents.detect_incidents`, over columns) over what the job read of the window
(and :data:`CONTEXT_INTERVALS` before it, so a reload whose absence began in the previous window is
still seen). Incidents are stored cut on the grid every attribution window starts on (the line grain, an
hour by default), so a run over one hour or over a month stores the same parts; the report joins them.
Each part's cost is the pool's cost in its intervals, as this run just computed it (the figures it wrote
to ``pool_costs``, handed over rather than read back). Detection runs before the attribution: the
intervals of the incidents found are flagged ``recovering`` (:func:`flag_recovering`), so their cost is
the lines' ``recovery`` component, equal to the incidents' cost to the micro-dollar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.ledger.incident_columns import detection_columns
from attribution.model.incidents import Incident, split_at_grid
from attribution.model.vectorized_incidents import detect_incident_columns
from attribution.model.vectorized_pools import PoolColumns
from attribution.model.vectorized_usage import UsageColumns
from attribution.store import incidents as store
from attribution.store.columns import usage_columns
from attribution.store.gpu_columns import GpuCountColumns, concatenated, gpu_count_columns
from attribution.store.kv_sample_columns import KvSampleColumns, kv_sample_columns
from attribution.store.kv_sample_columns import concatenated as concat_kv

#: How far back a pool's engines must have been sampled for their absence to mean "down".
WATCH_DAYS = 7
#: Intervals read before the window: the absence a reload follows may lie there.
CONTEXT_INTERVALS = 10


def find_incidents(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    window: tuple[GpuCountColumns, KvSampleColumns, UsageColumns],
) -> list[Incident]:
    """The incidents of ``[start, end)``, cut on the run grid. ``window``: the job's reads of ``[start,
    end)`` (GPU count, KV sample and usage columns); the context before it is read here
    by the same readers, so detection scans no table of the window a second time."""
    step = settings.interval_seconds
    cluster = settings.cluster
    before = start - timedelta(seconds=step * CONTEXT_INTERVALS)
    counts, kv, usage = window
    context_kv = kv_sample_columns(session, before, start, cluster)
    columns = detection_columns(
        concatenated([gpu_count_columns(session, before, start, cluster), counts]),
        concat_kv([context_kv, kv]),
        [usage_columns(session, before, start, cluster), usage],
    )
    # every pool judged (pools are independent), then only the watched ones kept: a pool whose engines
    # were sampled in the rows above is watched; the others found down are asked about (a week of scan
    # per window, for every pool, was most of detection's time)
    found = detect_incident_columns(
        columns, int(start.timestamp()), int(end.timestamp()), step, columns.pools
    )
    watched = {*context_kv.pools, *kv.pools}
    if unsure := {i.pool for i in found} - watched:
        since = start - timedelta(days=WATCH_DAYS)
        watched |= store.pools_with_engines(session, since, end, cluster, among=unsure)
    # the GPUs of the incidents found only: one short read each (a window has a few)
    return split_at_grid(
        [
            replace(i, gpus=store.incident_gpus(session, i.pool, _at(i.start_s), _at(i.end_s), cluster))
            for i in found
            if i.pool in watched
        ],
        # every run starts on this grid (settlement windows and line grains align to it; it divides an hour)
        max(step, settings.line_grain_seconds),
    )


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def flag_recovering(pools: PoolColumns, incidents: Sequence[Incident], interval_seconds: int) -> int:
    """Mark, in place, the pool-intervals inside an incident ``recovering``; returns how many."""
    code = {name: i for i, name in enumerate(pools.pools)}
    for i in incidents:
        if i.pool in code:
            inside = (pools.pool == code[i.pool]) & (pools.start >= i.start_s) & (pools.start < i.end_s)
            pools.recovering |= inside & ((pools.start - i.start_s) % interval_seconds == 0)
    return int(pools.recovering.sum())


def record_incidents(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    found: Sequence[Incident],
    pool_costs_usd_micros: Mapping[tuple[str, int], int],
) -> int:
    """Replace the incidents starting in ``[start, end)`` with ``found``; returns how many. No commit.

    ``pool_costs_usd_micros`` is each pool's cost by (pool, interval start in Unix seconds) over the window.
    """
    step = settings.interval_seconds
    now = datetime.now(UTC)
    rows = [
        {
            "pool": i.pool,
            "start_at": datetime.fromtimestamp(i.start_s, UTC),
            "end_at": datetime.fromtimestamp(i.end_s, UTC),
            "cause": i.cause,
            "gpu_count": len(i.gpus),
            "gpu_uuids": ",".join(i.gpus),
            "cost_usd_micros": sum(
                pool_costs_usd_micros.get((i.pool, t), 0) for t in range(i.start_s, i.end_s, step)
            ),
            "detected_at": now,
        }
        for i in found
    ]
    store.replace_incidents(session, start, end, rows, settings.cluster)
    return len(rows)


def clear_incidents(session: Session, start: datetime, end: datetime, cluster: str) -> None:
    """Drop the incident parts of ``cluster`` starting in ``[start, end)``: not collected yet, like the
    lines there."""
    store.replace_incidents(session, start, end, [], cluster)
