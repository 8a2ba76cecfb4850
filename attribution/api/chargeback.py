"""Chargeback and line items of a window: thin routes over the window's cached line set."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from attribution.api.app import LinesDep, SessionDep, SettingsDep
from attribution.api.auth import Principal, ReaderDep
from attribution.api.cache import LineCache
from attribution.api.convert import to_schema
from attribution.api.paging import decode_cursor, encode_cursor, page_after, query_digest
from attribution.api.params import (
    EndQuery,
    PeriodQuery,
    PoolQuery,
    StartQuery,
    TenantQuery,
    TierQuery,
    resolve_window,
)
from attribution.api.schemas import ChargebackOut, LineItemOut, Page, TenantChargeOut
from attribution.config import RESERVED_NAMES, Settings
from attribution.reports.chargeback import (
    Grouping,
    LineFilter,
    LineItem,
    check_filter,
    grouped_chargeback,
    line_cents,
)
from attribution.timeutil import iso

router = APIRouter(tags=["chargeback"])
JSON = "application/json"

GroupQuery = Annotated[Grouping, Query(description="tenant, tenant_tier or tenant_pool")]
CursorQuery = Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")]


def line_filter(
    session: Session,
    settings: Settings,
    principal: Principal,
    tenant: str | None,
    pool: str | None,
    tier: str | None,
) -> LineFilter:
    """The filters to apply, with a tenant key's own tenant forced in; unknown tenant or pool: 404."""
    keep = LineFilter(principal.own_tenant(tenant), pool, tier)
    check_filter(session, keep, [p.name for p in settings.pools] + sorted(RESERVED_NAMES))
    return keep


@router.get("/v1/chargeback", response_model=ChargebackOut)
def chargeback(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: LinesDep,
    period: PeriodQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    group_by: GroupQuery = Grouping.TENANT,
    tenant: TenantQuery = None,
    pool: PoolQuery = None,
    tier: TierQuery = None,
) -> Response:
    """Chargeback over ``[start, end)`` or a period, grouped, from stored results; sums to the cent.

    The answer is kept, serialised, with the window's lines until the next attribution run."""
    window = resolve_window(settings, period, start, end)
    keep = line_filter(session, settings, principal, tenant, pool, tier)
    hide_cluster = principal.tenant is not None  # the cluster's total would reveal the others' sum

    def answer() -> bytes:
        cb = grouped_chargeback(
            session, lines.lines, window, group_by, keep, settings.interval_seconds, settings.currency
        )
        return (
            to_schema(
                ChargebackOut,
                cb,
                tenants=[TenantChargeOut.model_validate(g, from_attributes=True) for g in cb.groups],
                cluster_cost_usd_micros=None if hide_cluster else cb.cluster_cost_usd_micros,
            )
            .model_dump_json()
            .encode()
        )

    lines = cache.window(session, *window)
    return Response(lines.derive(("chargeback", group_by, keep, hide_cluster), answer), media_type=JSON)


@router.get("/v1/line-items", response_model=Page[LineItemOut])
def line_items(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: LinesDep,
    period: PeriodQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    tenant: TenantQuery = None,
    pool: PoolQuery = None,
    tier: TierQuery = None,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="page size, capped at api.max_page_size")
    ] = None,
    cursor: CursorQuery = None,
) -> Response:
    """Pool x tenant x tier lines of the window, in (tenant, pool, tier) order, cursor-paged."""
    window = resolve_window(settings, period, start, end)
    keep = line_filter(session, settings, principal, tenant, pool, tier)
    size = min(limit or settings.api.default_page_size, settings.api.max_page_size)
    digest = query_digest(*window, keep.tenant, keep.pool, keep.tier)
    after = decode_cursor(cursor, digest) if cursor else None
    kept = [(x, c) for x, c in lines_with_cents(cache, session, *window) if keep.keep(x)]
    chunk, more = page_after(kept, [x.key for x, _ in kept], after, size)
    s, e = iso(window[0]), iso(window[1])
    data = [LineItemOut.model_validate(_item(x, s, e, c)) for x, c in chunk]
    next_cursor = encode_cursor(chunk[-1][0].key, digest) if more else None
    page = Page[LineItemOut](data=data, limit=size, has_more=more, next_cursor=next_cursor)
    return Response(page.model_dump_json(), media_type=JSON)


def lines_with_cents(
    cache: LineCache, session: Session, start: datetime, end: datetime
) -> list[tuple[LineItem, int]]:
    """Each line of the window with its cents (rounded over the whole window), computed once per window."""
    window = cache.window(session, start, end)
    return window.derive("cents", lambda: list(zip(window.lines, line_cents(window.lines), strict=True)))


def _item(line: LineItem, start: str, end: str, cents: int) -> dict[str, object]:
    return {
        **{name: getattr(line, name) for name in _ITEM_FIELDS},
        "start": start,
        "end": end,
        "total_cents": cents,
    }


_ITEM_FIELDS = [name for name in LineItemOut.model_fields if name not in ("start", "end", "total_cents")]
