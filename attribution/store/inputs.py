"""Reads of the collected inputs the attribution job prices: GPU counts, KV samples, tenant usage, and
where engines worked without the gateway's usage. Aggregated by the database, ``interval_start`` as Unix
seconds: a month's inputs are millions of rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.orm import Session

from attribution.store.expressions import AnyRow, between, driver_rows, epoch, table_of
from attribution.store.tables import DEFAULT_CLUSTER, GpuSample, KvSample, TenantUsage

MIB_BYTES = 1024 * 1024


GPU_COUNT_COLUMNS = (
    "interval_start_s",
    "gpu_type",
    "pool",
    "unplaced",
    "gpus",
    "share_ppm",
    "measured_gpus",
    "measured_mib",
    "powered_gpus",
    "milliwatts",
    "fb_used_bytes",
    "fb_used_rows",
)
"""The order of :func:`gpu_counts`' columns."""


def gpu_counts(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> Sequence[tuple[Any, ...]]:
    """GPUs sampled per interval, GPU type, pool (None: serving no pool) and placement (``unplaced``: a
    part whose series could not be placed), counted by the database: the model needs counts, and a fleet
    has a thousand GPU rows per interval. ``gpus`` counts whole GPUs; ``share_ppm`` sums the parts of
    MIG and shared GPUs (parts per million of a GPU). GPUs of a type outside the catalog (``gpu_type``
    None) have rows too, for incident detection (a pool holding GPUs is a pool whatever their type); they
    are not on the bill, and :func:`attribution.ledger.inputs.group_telemetry` skips them.

    ``measured_gpus`` of the whole GPUs reported FB_USED, FB_FREE and FB_RESERVED; ``measured_mib`` is the
    sum of their framebuffer totals, each rounded to whole MiB (the exporter's unit) so averaging cannot
    drift it. Parts take their share of the catalog's total instead (a part's gauges are its own).
    ``powered_gpus`` of the whole GPUs reported their board power, ``milliwatts`` its sum.
    ``fb_used_bytes`` sums the FB_USED of every row (whole or part) that reported it, ``fb_used_rows``
    counts them: incident detection's mean framebuffer used per GPU of a pool.

    Rows are the driver's tuples in the order of :data:`GPU_COUNT_COLUMNS` (:func:`driver_rows`).
    """
    t = table_of(GpuSample)
    whole = t.c.gpu_share_ppm.is_(None)
    unplaced = t.c.problem.is_not(None).label("unplaced")
    fb = case((whole, t.c.fb_used_bytes + t.c.fb_free_bytes + t.c.fb_reserved_bytes), else_=None)
    return driver_rows(
        session,
        select(
            epoch(t.c.interval_start),
            t.c.gpu_type,
            t.c.pool,
            unplaced,
            # sums cast to bigint: Postgres sums integers as numeric, which arrives as one Decimal per
            # value (a month's rows held 325 MiB); an int is exact too, and a small one is shared
            cast(func.sum(case((whole, 1), else_=0)), BigInteger).label("gpus"),
            cast(func.coalesce(func.sum(t.c.gpu_share_ppm), 0), BigInteger).label("share_ppm"),
            func.count(fb).label("measured_gpus"),
            # whole MiB, half up, in integers: Postgres' round(double) rounds half to even, SQLite's half up
            cast(func.coalesce(func.sum((fb + MIB_BYTES // 2) // MIB_BYTES), 0), BigInteger).label(
                "measured_mib"
            ),
            # whole GPUs whose board power dcgm reported, and its sum (a part's row repeats its GPU's)
            func.count(case((whole, t.c.power_milliwatts), else_=None)).label("powered_gpus"),
            cast(
                func.coalesce(func.sum(case((whole, t.c.power_milliwatts), else_=None)), 0), BigInteger
            ).label("milliwatts"),
            cast(func.coalesce(func.sum(t.c.fb_used_bytes), 0), BigInteger).label("fb_used_bytes"),
            func.count(t.c.fb_used_bytes).label("fb_used_rows"),
        )
        .where(between(GpuSample, start, end), t.c.cluster == cluster)
        .group_by(t.c.interval_start, t.c.gpu_type, t.c.pool, unplaced),
    )


KV_SAMPLE_COLUMNS = (
    "interval_start_s",
    "pool",
    "engine_id",
    "kv_usage_ratio",
    "kv_capacity_tokens",
    "kv_bytes_per_token",
    "requests_running",
)
"""The order of :func:`kv_samples`' columns."""


def kv_samples(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> Sequence[tuple[Any, ...]]:
    """Engines' KV samples in ``[start, end)``, as the driver's tuples (:func:`driver_rows`) in the order
    of :data:`KV_SAMPLE_COLUMNS`; ``interval_start_s`` in Unix seconds."""
    t = table_of(KvSample)
    return driver_rows(
        session,
        select(
            epoch(t.c.interval_start),
            t.c.pool,
            t.c.engine_id,
            t.c.kv_usage_ratio,
            t.c.kv_capacity_tokens,
            t.c.kv_bytes_per_token,
            t.c.requests_running,
        ).where(between(KvSample, start, end), t.c.cluster == cluster),
    )


def tenant_usage(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> Sequence[AnyRow]:
    """Tenant usage rows in ``[start, end)``; ``interval_start_s`` in Unix seconds."""
    t = table_of(TenantUsage)
    return session.execute(
        select(
            epoch(t.c.interval_start),
            t.c.pool,
            t.c.tenant,
            t.c.tier,
            t.c.requests,
            t.c.prompt_tokens,
            t.c.generation_tokens,
            t.c.kv_token_seconds,
        ).where(between(TenantUsage, start, end), t.c.cluster == cluster)
    ).all()


def engine_activity(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Every (interval_start, pool) in ``[start, end)`` whose engines showed work (a KV usage reading
    above zero or requests running), with ``has_usage``: whether the gateway reported any tenant with
    KV token-seconds there. Work without usage is a telemetry gap, whether the gateway's series were
    absent or flat (rows of zeros)."""
    k, u = table_of(KvSample), table_of(TenantUsage)
    usage = (
        select(u.c.pool)
        .where(u.c.interval_start == k.c.interval_start, u.c.pool == k.c.pool, u.c.kv_token_seconds > 0)
        .exists()
    )
    return session.execute(
        select(k.c.interval_start, k.c.pool, usage.label("has_usage"))
        .where(between(KvSample, start, end), (k.c.kv_usage_ratio > 0) | (k.c.requests_running > 0))
        .group_by(k.c.interval_start, k.c.pool)
        .order_by(k.c.pool, k.c.interval_start)
    ).all()


def usage_rows_per_interval(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> dict[int, int]:
    """Tenant usage rows per interval start (Unix seconds) in ``[start, end)``: what sizes the attribution
    job's windows, since a run's memory grows with the usage rows it holds (one count per interval, from
    the primary key's index)."""
    t = table_of(TenantUsage)
    found = driver_rows(
        session,
        select(epoch(t.c.interval_start), func.count())
        .where(between(TenantUsage, start, end), t.c.cluster == cluster)
        .group_by(t.c.interval_start),
    )
    return {int(s): int(n) for s, n in found}
