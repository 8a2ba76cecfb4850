"""Time series behind the statement's charts: idle share, utilisation and memory-time by tier.

These are for reading a month's shape, not for billing: figures are floats, bucketed by UTC day (or by
hour when the period holds two days of data or fewer, so a short period still has a shape). They come
from the stored interval tables whatever the period's status, so for a closed period they describe the
inputs as they are now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from attribution.store.cluster import cluster_intervals, gpu_util_by_interval
from attribution.store.lines import memory_by_interval_and_tier
from attribution.store.pools import pools_by_interval

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Series:
    bucket: str  # "day" or "hour"
    labels: list[str]
    #: share of the cluster's cost that was idle: free KV cache, unused pools, unallocated GPUs, overheads
    idle_share_percent: list[float | None]
    #: mean GPU utilisation of the GPUs serving pools (dcgm-exporter), percent
    gpu_util_percent: list[float | None]
    #: KV cache in use over KV capacity, across pools, percent
    kv_usage_percent: list[float | None]
    #: memory-time by context tier, GiB-hours per bucket
    memory_gib_hours_by_tier: dict[str, list[float]] = field(default_factory=dict)


def _bucket_of(t: datetime, bucket: str) -> str:
    return t.strftime("%Y-%m-%d") if bucket == "day" else t.strftime("%Y-%m-%d %H:00")


def build_series(
    session: Session, start: datetime, end: datetime, tenant: str | None, tier_names: list[str]
) -> Series:
    cluster = cluster_intervals(session, start, end)
    bucket = "day" if len({r[0].date() for r in cluster}) > 2 else "hour"
    cost: dict[str, float] = defaultdict(float)
    idle: dict[str, float] = defaultdict(float)
    for t, c, cluster_idle in cluster:
        cost[_bucket_of(t, bucket)] += float(c)
        idle[_bucket_of(t, bucket)] += float(cluster_idle)
    kv_used, kv_capacity = _pools(session, start, end, bucket, idle)
    util = _gpu_util(session, start, end, bucket)
    memory = _memory_by_tier(session, start, end, tenant, bucket)
    labels = sorted(set(cost) | set(util) | {k for _, k in memory})
    tiers = [t for t in tier_names if any(tier == t for tier, _ in memory)]
    tiers += sorted({tier for tier, _ in memory} - set(tiers))
    return Series(
        bucket=bucket,
        labels=labels,
        idle_share_percent=[100 * idle[k] / cost[k] if cost.get(k) else None for k in labels],
        gpu_util_percent=[util.get(k) for k in labels],
        kv_usage_percent=[100 * kv_used[k] / kv_capacity[k] if kv_capacity.get(k) else None for k in labels],
        memory_gib_hours_by_tier={
            tier: [memory.get((tier, k), 0.0) / GIB / 3600 for k in labels] for tier in tiers
        },
    )


def _pools(
    session: Session, start: datetime, end: datetime, bucket: str, idle: dict[str, float]
) -> tuple[dict[str, float], dict[str, float]]:
    """Adds each pool's idle cost to ``idle``; returns KV bytes in use and KV capacity per bucket."""
    rows = pools_by_interval(session, start, end)
    kv_used: dict[str, float] = defaultdict(float)
    kv_capacity: dict[str, float] = defaultdict(float)
    for t, pool_idle, used, capacity in rows:
        key = _bucket_of(t, bucket)
        idle[key] += float(pool_idle or 0)
        kv_used[key] += float(used or 0)
        kv_capacity[key] += float(capacity or 0)
    return kv_used, kv_capacity


def _gpu_util(session: Session, start: datetime, end: datetime, bucket: str) -> dict[str, float]:
    rows = gpu_util_by_interval(session, start, end)
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for t, s, n in rows:
        key = _bucket_of(t, bucket)
        total[key] += float(s or 0.0)
        count[key] += int(n)
    return {k: total[k] / count[k] for k in total if count[k]}


def _memory_by_tier(
    session: Session, start: datetime, end: datetime, tenant: str | None, bucket: str
) -> dict[tuple[str, str], float]:
    rows = memory_by_interval_and_tier(session, start, end, tenant)
    out: dict[tuple[str, str], float] = defaultdict(float)
    for when, tier, byte_seconds in rows:
        out[(str(tier), _bucket_of(when, bucket))] += float(byte_seconds)
    return out
