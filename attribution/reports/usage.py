"""A tenant's usage and cost as a time series at a chosen step, from the stored lines.

Buckets are aligned to the window's start (so no bucket starts before it; a window starting on a UTC hour
or day gives buckets on UTC hours or days) and summed in Python from the lines'
per-interval sums, so the same code serves Postgres and SQLite; the step must be a whole number of stored
line grains, or a bucket would cut a line in two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from attribution.errors import InvalidWindowError, NotFoundError
from attribution.store.lines import has_lines, tenant_interval_sums

GIB = 1024**3
_FIELDS = (
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "kv_token_seconds",
    "kv_byte_seconds",
    "total_usd_micros",
)


@dataclass(frozen=True, slots=True)
class UsagePoint:
    start: datetime
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    memory_gib_hours: float
    total_usd_micros: int


def check_step(
    start: datetime, end: datetime, step_seconds: int, grain_seconds: int, max_points: int
) -> None:
    if step_seconds % grain_seconds:
        raise InvalidWindowError(
            f"step of {step_seconds} s is not a multiple of the stored line grain ({grain_seconds} s)"
        )
    points = -(-int((end - start).total_seconds()) // step_seconds)
    if points > max_points:
        raise InvalidWindowError(f"{points} points exceed the maximum of {max_points}; use a larger step")


def bucket_start(t: datetime, start: datetime, step_seconds: int) -> int:
    """The Unix time of the bucket holding ``t``: buckets of ``step_seconds`` counted from ``start``."""
    origin = int(start.timestamp())
    return origin + (int(t.timestamp()) - origin) // step_seconds * step_seconds


def tenant_usage_series(
    session: Session,
    tenant: str,
    start: datetime,
    end: datetime,
    step_seconds: int,
    cluster: str | None = None,
) -> list[UsagePoint]:
    """Only buckets with lines appear (a tenant absent for a day has no point that day). Unknown: 404.
    ``cluster`` keeps that cluster's lines (a known tenant with none there has no points)."""
    rows = tenant_interval_sums(session, tenant, start, end, _FIELDS, cluster)
    if not rows and not has_lines(session, tenant):
        raise NotFoundError(f"no tenant named {tenant!r}")
    buckets: dict[int, list[int | float]] = {}
    for r in rows:
        # ints stay ints (money is never a float); token- and byte-seconds are floats by nature
        acc = buckets.setdefault(bucket_start(r[0], start, step_seconds), [0, 0, 0, 0.0, 0.0, 0])
        for i, v in enumerate(r[1:]):
            acc[i] += v
    return [
        UsagePoint(
            datetime.fromtimestamp(ts, UTC),
            requests=int(a[0]),
            prompt_tokens=int(a[1]),
            generation_tokens=int(a[2]),
            kv_token_seconds=float(a[3]),
            memory_gib_hours=float(a[4]) / GIB / 3600,
            total_usd_micros=int(a[5]),
        )
        for ts, a in sorted(buckets.items())
    ]
