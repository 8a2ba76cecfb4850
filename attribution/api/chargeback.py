"""Chargeback and line items of a window: thin routes over the window's cached line set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from attribution.api.auth import ReaderDep
from attribution.api.convert import to_schema
from attribution.api.deps import LineQuery, LinesDep, SessionDep, SettingsDep, WarmDep, WindowQuery
from attribution.api.etag import IfNoneMatch, answer_etag, matches, not_modified, tagged
from attribution.api.filters import kept_lines
from attribution.api.paging import decode_cursor, encode_cursor, page_after, query_digest
from attribution.api.schemas import ChargebackOut, LineItemOut, LineItemsPage, TenantChargeOut
from attribution.config import Settings
from attribution.reports.chargeback import Grouping, grouped_chargeback
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import LineSet
from attribution.timeutil import iso

router = APIRouter(tags=["chargeback"])

GroupQuery = Annotated[
    Grouping, Query(description="tenant, tenant_tier, tenant_pool, tenant_cluster or cluster")
]
CursorQuery = Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")]


@router.get("/v1/chargeback", response_model=ChargebackOut)
def chargeback(
    *,
    request: Request,
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: LinesDep,
    warm: WarmDep,
    asked: WindowQuery,
    group_by: GroupQuery = Grouping.TENANT,
    filters: LineQuery,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Chargeback over a period (its statement's lines) or a raw window, grouped; sums to the cent.

    Groups sum the line items' cents (rounded once over the whole window), then filters apply, so a
    filter or a tenant key sees exactly the amounts finance sees. The answer is kept, serialised, with
    the window's lines until the next attribution run or close, under a strong ETag of that run and
    this answer's identity (``If-None-Match`` with it: 304)."""
    window = asked.resolve(settings)
    keep = filters.resolve(session, settings, principal)
    period = asked.period_name
    # the cluster's total would reveal the others' sum; its coverage counts are the cluster's, not theirs
    hide_cluster = principal.tenant is not None
    lines = cache.window(session, *window, period, warm.observed)
    identity = ("chargeback", group_by, keep, hide_cluster)
    etag = answer_etag(lines.version, "/v1/chargeback", window, period, *identity, *_shape(settings))
    if matches(if_none_match, etag) and not warm.enabled:
        return not_modified(etag)

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
                coverage_intervals={} if hide_cluster else cb.coverage_intervals,
                **_provenance(lines.set),
            )
            .model_dump_json()
            .encode()
        )

    body = lines.derive(identity, answer)  # a 304 computes it too: once per run, then kept for warm requests
    # this key's next requests with this query are answered from memory while the version holds
    warm.keep(request.scope, principal, period, lines.version, etag, body)
    return not_modified(etag) if matches(if_none_match, etag) else tagged(body, etag)


@router.get("/v1/line-items", response_model=LineItemsPage)
def line_items(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: LinesDep,
    asked: WindowQuery,
    filters: LineQuery,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="page size, capped at api.max_page_size")
    ] = None,
    cursor: CursorQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Line items of the period's statement (or of a raw window, provisional), in (tenant, pool, tier,
    charge class, charge period) order, cursor-paged; cursors are refused once the results change."""
    window = asked.resolve(settings)
    keep = filters.resolve(session, settings, principal)
    period = asked.period_name
    size = min(limit or settings.api.default_page_size, settings.api.max_page_size)
    cluster = () if keep.cluster is None else (keep.cluster,)  # digests of one-cluster queries unchanged
    digest = query_digest(*window, period, keep.tenant, keep.pool, keep.tier, *cluster)
    lines = cache.window(session, *window, period)
    after = decode_cursor(cursor, digest, lines.version) if cursor else None
    identity = ("line-items", keep, size, after)
    etag = answer_etag(lines.version, "/v1/line-items", window, period, *identity)
    if matches(if_none_match, etag):
        return not_modified(etag)

    def answer() -> bytes:
        kept = kept_lines(lines.set, keep)
        chunk, more = page_after(kept, [x.key for x in kept], after, size)
        s, e = iso(window[0]), iso(window[1])
        next_cursor = encode_cursor(chunk[-1].key, digest, lines.version) if more else None
        page = LineItemsPage(
            data=[LineItemOut.model_validate(_item(x, s, e)) for x in chunk],
            limit=size,
            has_more=more,
            next_cursor=next_cursor,
            **_provenance(lines.set),
        )
        return page.model_dump_json().encode()

    # pages are not kept: a cursor walk asks each once, and thousands of pages would hold the window twice
    return tagged(answer(), etag)


def _shape(settings: Settings) -> tuple[object, ...]:
    """The settings a chargeback's bytes depend on besides the lines (a restart may change them)."""
    return (settings.interval_seconds, settings.currency)


def _provenance(found: LineSet) -> dict[str, object]:
    """Where the amounts come from: a closed period's issued statement, or a provisional view."""
    return {
        "period": found.period,
        "status": found.status,
        "provisional": found.provisional,
        "content_hash": found.content_hash,
    }


def _item(line: LineItem, start: str, end: str) -> dict[str, object]:
    return {**{name: getattr(line, name) for name in _ITEM_FIELDS}, "start": start, "end": end}


_ITEM_FIELDS = [name for name in LineItemOut.model_fields if name not in ("start", "end")]
