"""The one reader of a window's summed lines: whole UTC days from the rollups (``daily_line_sums``), the
partial days at either end from the lines (``attributed_costs``).

A month of 1,000 tenants is 2.9 million hourly lines but 120,000 day rows: every month view (chargeback,
line items, exports, OpenCost, budgets, tiers, the open statement, FOCUS, efficiency and what-if) sums
:func:`span` instead of the lines, so it reads one row per day instead of one per interval. The rollups
are written in the transaction that writes the lines (:mod:`attribution.store.rollups`), so a day's row is
always the exact sum of that day's lines and a window summed here equals the same window summed from its
lines: integers (money, counts) exactly. Float columns (KV token- and byte-seconds) are summed in
``(at, pool, tenant, tier)`` order, the days' own sums having been taken in the lines' key order: the
same stored lines always give the same bits, though not the bits of one flat sum over the lines (float
addition is not associative); those columns are usage, never money.

The columns of :func:`span` are ``at`` (a line's interval start or a day's start), the key (``pool``,
``tenant``, ``tier``), every column of :data:`~attribution.store.rollups.SUMMED`,
``estimated_usd_micros`` (the total of estimated lines) and ``estimated`` (1 when any line was, else 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, Subquery, case, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from attribution.store.aggregates import ordered_sum
from attribution.store.rollups import KEYS, SUMMED
from attribution.store.tables import AttributedCost, DailyLineSum

DAY = timedelta(days=1)
FLOATS = frozenset(("kv_token_seconds", "kv_byte_seconds"))


def whole_days(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """``[first, last)``: the UTC days lying wholly inside ``[start, end)``, or None if there is none."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += DAY
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


def span(
    start: datetime,
    end: datetime,
    *,
    tenant: str | None = None,
    pool: str | None = None,
    tiers: Iterable[str] | None = None,
) -> Subquery:
    """The rows whose sums are ``[start, end)``'s sums (``tenant``'s, ``pool``'s, ``tiers``' only, when
    given): a day row per whole day, the lines of the partial days. Filters are pushed into each part, so
    each reads its own index."""
    wanted = list(tiers) if tiers is not None else None
    days = whole_days(start, end)
    if days is None:
        parts = [_lines(start, end, tenant, pool, wanted)]
    else:
        first, last = days
        parts = [_days(first, last, tenant, pool, wanted)]
        if start < first:
            parts.append(_lines(start, first, tenant, pool, wanted))
        if last < end:
            parts.append(_lines(last, end, tenant, pool, wanted))
    if len(parts) == 1:
        return parts[0].subquery("span")
    return union_all(*parts).subquery("span")


def total(s: Subquery, name: str) -> ColumnElement[Any]:
    """``sum`` of ``s``'s column ``name``: floats in ``(at, pool, tenant, tier)`` order, so the same rows
    give the same bits whatever plan reads them; integers plain (exact in any order)."""
    column = s.c[name]
    if name in FLOATS:
        return ordered_sum(column, s.c.at, *(s.c[k] for k in KEYS))
    return func.sum(column)


def _filters(t: Any, tenant: str | None, pool: str | None, tiers: list[str] | None) -> list[Any]:
    where = []
    if tenant is not None:
        where.append(t.tenant == tenant)
    if pool is not None:
        where.append(t.pool == pool)
    if tiers is not None:
        where.append(t.tier.in_(tiers))
    return where


def _lines(
    start: datetime, end: datetime, tenant: str | None, pool: str | None, tiers: list[str] | None
) -> Select[Any]:
    t = AttributedCost
    return select(
        t.interval_start.label("at"),
        *(getattr(t, k) for k in KEYS),
        *(getattr(t, n) for n in SUMMED),
        case((t.estimated, t.total_usd_micros), else_=literal(0)).label("estimated_usd_micros"),
        case((t.estimated, 1), else_=0).cast(Integer).label("estimated"),
    ).where(t.interval_start >= start, t.interval_start < end, *_filters(t, tenant, pool, tiers))


def _days(
    first: datetime, last: datetime, tenant: str | None, pool: str | None, tiers: list[str] | None
) -> Select[Any]:
    r = DailyLineSum
    return select(
        r.day_start.label("at"),
        *(getattr(r, k) for k in KEYS),
        *(getattr(r, n) for n in SUMMED),
        r.estimated_usd_micros,
        case((r.estimated, 1), else_=0).cast(Integer).label("estimated"),
    ).where(r.day_start >= first, r.day_start < last, *_filters(r, tenant, pool, tiers))
