"""Daily rollups of the stored lines (``daily_line_sums``): per UTC day x pool x tenant x tier, the sum of
every :class:`~attribution.store.tables.CostAndUsage` column, written in the transaction that writes the
lines.

Re-attributing a window recomputes every day it touches from that day's lines, in SQL
(``INSERT ... SELECT ... GROUP BY``, :func:`refresh_rollups`), after the lines are replaced: a day is
always exactly the sum of its lines, whatever sequence of runs and re-runs wrote them. The summed
columns are :data:`SUMMED`, the one list both the rollups and their reader (:mod:`attribution.store.daysums`)
use: a money column added to ``CostAndUsage`` is one line there (a test checks the two agree). Float
columns are summed in the lines' key order (:func:`key_sum`), so equal lines give equal days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, case, delete, func, insert, select
from sqlalchemy.orm import Session

from attribution.store.aggregates import day_start, key_sum
from attribution.store.expressions import table_of
from attribution.store.tables import DEFAULT_CLUSTER, AttributedCost, CostAndUsage, DailyLineSum

DAY = timedelta(days=1)
#: The key a rollup sums per (besides its UTC day); :mod:`attribution.store.daysums` reads by it too.
KEYS = ("pool", "tenant", "tier", "cluster")


#: Every money and usage column lines carry (``CostAndUsage``), summed per day here and per window by
#: :mod:`attribution.store.daysums`. A column added to ``CostAndUsage`` is added here, one line.
SUMMED: tuple[str, ...] = (
    "kv_in_use_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "idle_cold_usd_micros",
    "idle_warm_usd_micros",
    "kv_headroom_usd_micros",
    "unmeasured_usd_micros",
    "recovery_usd_micros",
    "total_usd_micros",
    "kv_token_seconds",
    "kv_byte_seconds",
    "requests",
    "prompt_tokens",
    "generation_tokens",
)


def summed_columns() -> list[str]:
    """:data:`SUMMED` as a list (the rollup test's name for it)."""
    return list(SUMMED)


def line_columns() -> list[str]:
    """The columns ``CostAndUsage`` declares, in declaration order: what :data:`SUMMED` must list."""
    return [name for cls in CostAndUsage.__mro__ for name in getattr(cls, "__annotations__", {})]


def touched_days(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[first, last)``: the UTC days that ``[start, end)`` reaches into, whole."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return first, last + DAY if last < end else last


def refresh_rollups(session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER) -> None:
    """Replace the rollups of ``cluster`` of every UTC day ``[start, end)`` touches by the sums of that
    day's stored lines of the cluster; call it after the lines of ``[start, end)`` are written, in the same
    transaction. Another cluster's days are its own attribution job's, which may run meanwhile."""
    if start >= end:
        return
    first, last = touched_days(start, end)
    r = table_of(DailyLineSum)
    session.execute(delete(r).where(r.c.day_start >= first, r.c.day_start < last, r.c.cluster == cluster))
    t = AttributedCost
    day = day_start(t.interval_start)
    names = summed_columns()
    select_sums = select(
        day,
        *(getattr(t, k) for k in KEYS),
        *(key_sum(getattr(t, n)) for n in names),
        func.max(case((t.estimated, 1), else_=0)) > 0,
        func.coalesce(func.sum(case((t.estimated, t.total_usd_micros), else_=0)), 0),
        func.coalesce(func.sum(t.covered_seconds), 0),
        func.count().cast(Integer),
    ).where(t.interval_start >= first, t.interval_start < last, t.cluster == cluster)
    select_sums = select_sums.group_by(day, *(getattr(t, k) for k in KEYS))
    targets = ["day_start", *KEYS, *names, "estimated", "estimated_usd_micros", "covered_seconds", "lines"]
    session.execute(insert(r).from_select(targets, select_sums))
    session.flush()
