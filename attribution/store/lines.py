"""Reads of the stored attribution lines (``attributed_costs``): sums per line item, tier, tenant and
interval, and whether a tenant or pool ever had a line. Sums over a window read whole days from the
rollups (:mod:`attribution.store.daysums`); per-interval series read the lines. Float columns are summed
in key order (:func:`key_sum`), so the same stored lines always give the same sums; money stays integer
micro-USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attribution.model.statement import COMPONENTS
from attribution.store.aggregates import key_sum
from attribution.store.daysums import span, total
from attribution.store.expressions import AnyRow
from attribution.store.tables import AttributedCost, AttributionRun, Period

#: More than the attribution runs that can ever be in flight at once.
RECENT_RUNS = 64


def results_version(session: Session) -> tuple[int, int]:
    """Changes whenever an attribution run stores lines: the key under which a window's lines may be
    reused. Runs replace lines in the same transaction that records the run. The highest id catches a new
    run; the count of the last ``RECENT_RUNS`` ids catches a run that commits after one with a higher id
    (concurrent runs). Both read the primary key index only, so the cost does not grow with history."""
    t = AttributionRun
    last_id = int(session.execute(select(func.max(t.id))).scalar_one() or 0)
    recent = session.execute(select(func.count()).where(t.id > last_id - RECENT_RUNS)).scalar_one()
    return last_id, int(recent)


def results_state(session: Session, period: str | None) -> tuple[tuple[int, int], str | None, str | None]:
    """:func:`results_version` and ``period``'s (status, content hash), None when it has no row or none
    is asked, in one statement: one snapshot, one round trip per request that reuses a cached answer."""
    t, p = AttributionRun, Period
    last = select(func.coalesce(func.max(t.id), 0)).scalar_subquery()
    recent = select(func.count()).where(t.id > last - RECENT_RUNS).scalar_subquery()
    status = select(p.status).where(p.period == period).scalar_subquery()
    content = select(p.content_hash).where(p.period == period).scalar_subquery()
    if period is None:
        runs = session.execute(select(last, recent)).one()
        return (int(runs[0]), int(runs[1])), None, None
    row = session.execute(select(last, recent, status, content)).one()
    return (int(row[0]), int(row[1])), row[2], row[3]


def _window(start: datetime, end: datetime, tenant: str | None = None) -> list[Any]:
    t = AttributedCost
    where = [t.interval_start >= start, t.interval_start < end]
    if tenant is not None:
        where.append(t.tenant == tenant)
    return where


def line_item_sums(
    session: Session, start: datetime, end: datetime, fields: Sequence[str]
) -> Sequence[AnyRow]:
    """Per (tenant, pool, tier) of ``[start, end)``, ordered so: the key, the sums of ``fields`` (floats
    in order, :func:`~attribution.store.daysums.total`), whether any line was estimated (1 or 0) and the
    cluster (each cluster's lines apart); whole days from the rollups."""
    s = span(start, end)
    keys = (s.c.tenant, s.c.pool, s.c.tier, s.c.cluster)
    return session.execute(
        select(*keys[:3], *(total(s, f) for f in fields), func.max(s.c.estimated), s.c.cluster)
        .group_by(*keys)
        .order_by(*keys)
    ).all()


def estimated_keys(session: Session, start: datetime, end: datetime) -> set[tuple[str, str, str]]:
    """(tenant, pool, tier) with an estimated stored line in ``[start, end)``: a flag, never money."""
    s = span(start, end)
    rows = session.execute(select(s.c.tenant, s.c.pool, s.c.tier).where(s.c.estimated == 1).distinct()).all()
    return {(str(a), str(b), str(c)) for a, b, c in rows}


def has_lines(session: Session, tenant: str, pool: str | None = None) -> bool:
    """Whether ``tenant`` (in ``pool``, when given) ever had a stored line; an indexed look-up
    (``ix_attributed_costs_tenant``) that reads one row at most."""
    t = AttributedCost
    condition = t.tenant == tenant if pool is None else (t.tenant == tenant) & (t.pool == pool)
    return session.execute(select(t.interval_start).where(condition).limit(1)).first() is not None


def interval_sums(session: Session, start: datetime, end: datetime, tenant: str | None) -> Sequence[AnyRow]:
    """Per interval of ``[start, end)`` (``tenant``'s lines only, when given): the money components,
    requests, prompt and generation tokens, and KV byte-seconds (in key order)."""
    t = AttributedCost
    money = [func.sum(getattr(t, f"{c}_usd_micros")) for c in COMPONENTS]
    usage = [func.sum(t.requests), func.sum(t.prompt_tokens), func.sum(t.generation_tokens)]
    return session.execute(
        select(t.interval_start, *money, *usage, key_sum(t.kv_byte_seconds))
        .where(*_window(start, end, tenant))
        .group_by(t.interval_start)
    ).all()


def pools_of_tenant(session: Session, tenant: str, start: datetime, end: datetime) -> set[str]:
    """The pools ``tenant`` has lines in over ``[start, end)``."""
    s = span(start, end, tenant=tenant)
    return set(session.scalars(select(s.c.pool).distinct()))


def estimated_and_unmeasured(
    session: Session, start: datetime, end: datetime, tenant: str | None
) -> tuple[int, int]:
    """Micro-USD of ``[start, end)`` (``tenant``'s, when given) on estimated lines, and unmeasured."""
    s = span(start, end, tenant=tenant)
    estimated, unmeasured = session.execute(
        select(
            func.coalesce(func.sum(s.c.estimated_usd_micros), 0),
            func.coalesce(func.sum(s.c.unmeasured_usd_micros), 0),
        )
    ).one()
    return int(estimated), int(unmeasured)


def tier_sums(
    session: Session, start: datetime, end: datetime, pool: str | None = None, cluster: str | None = None
) -> Sequence[AnyRow]:
    """Per tier of ``[start, end)`` (``pool``'s and ``cluster``'s lines only, when given), unordered:
    requests, tokens (prompt + generated), KV byte-seconds (in order) and micro-USD."""
    s = span(start, end, pool=pool)
    only = () if cluster is None else (s.c.cluster == cluster,)
    return session.execute(
        select(
            s.c.tier,
            func.sum(s.c.requests),
            func.sum(s.c.prompt_tokens + s.c.generation_tokens),
            total(s, "kv_byte_seconds"),
            func.sum(s.c.total_usd_micros),
        )
        .where(*only)
        .group_by(s.c.tier)
    ).all()


def tenant_interval_sums(
    session: Session,
    tenant: str,
    start: datetime,
    end: datetime,
    fields: Sequence[str],
    cluster: str | None = None,
) -> Sequence[AnyRow]:
    """``tenant``'s sums of ``fields`` (in key order) per interval of ``[start, end)``, in time order;
    of ``cluster``'s lines only, when given."""
    t = AttributedCost
    only = () if cluster is None else (t.cluster == cluster,)
    return session.execute(
        select(t.interval_start, *(key_sum(getattr(t, f)) for f in fields))
        .where(t.tenant == tenant, t.interval_start >= start, t.interval_start < end, *only)
        .group_by(t.interval_start)
        .order_by(t.interval_start)
    ).all()


def memory_by_interval_and_tier(
    session: Session, start: datetime, end: datetime, tenant: str | None
) -> Sequence[AnyRow]:
    """KV byte-seconds (in key order) per (interval, tier) of ``[start, end)`` where any was used."""
    t = AttributedCost
    where = [*_window(start, end, tenant), t.kv_byte_seconds > 0]
    return session.execute(
        select(t.interval_start, t.tier, key_sum(t.kv_byte_seconds))
        .where(*where)
        .group_by(t.interval_start, t.tier)
    ).all()


def pool_usage(session: Session, pool: str, start: datetime, end: datetime) -> tuple[int, int]:
    """The pool's tokens (prompt + generated) and requests over ``[start, end)``."""
    s = span(start, end, pool=pool)
    tokens, requests = session.execute(
        select(
            func.coalesce(func.sum(s.c.prompt_tokens + s.c.generation_tokens), 0),
            func.coalesce(func.sum(s.c.requests), 0),
        )
    ).one()
    return int(tokens), int(requests)


def pool_cost_of_tiers(session: Session, pool: str, start: datetime, end: datetime, tiers: list[str]) -> int:
    """Micro-USD of the pool's lines in ``tiers`` over ``[start, end)``."""
    s = span(start, end, pool=pool, tiers=tiers)
    return int(session.execute(select(func.coalesce(func.sum(s.c.total_usd_micros), 0))).scalar_one())


def pool_tier_cost_and_tokens(
    session: Session, pool: str, start: datetime, end: datetime, tiers: list[str]
) -> Sequence[AnyRow]:
    """Per tier of ``tiers``: the pool's micro-USD and tokens (prompt + generated) over ``[start, end)``."""
    s = span(start, end, pool=pool, tiers=tiers)
    return session.execute(
        select(
            s.c.tier, func.sum(s.c.total_usd_micros), func.sum(s.c.prompt_tokens + s.c.generation_tokens)
        ).group_by(s.c.tier)
    ).all()
