"""Exports for billing systems: line items as CSV, and a FOCUS 1.2 Cost and Usage dataset as CSV."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from attribution.api.auth import ReaderDep
from attribution.api.deps import LineQuery, LinesDep, SessionDep, SettingsDep, WindowQuery
from attribution.api.filters import LineFilterParams, kept_lines
from attribution.api.limits import Expensive
from attribution.api.params import CurrencyQuery, TenantQuery, resolve_period
from attribution.reports.commitments import commitment_section
from attribution.reports.export import lines_csv_chunks
from attribution.reports.focus import focus_csv_chunks, focus_rows, gpu_hour_rates
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_currency import in_currency

router = APIRouter(tags=["exports"], dependencies=[Expensive])  # per-key rate limit

CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV with a header row"}
}


@router.get("/v1/exports/line-items.csv", response_class=Response, responses=CSV)
def line_items_csv(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: LinesDep,
    asked: WindowQuery,
    filters: LineQuery,
) -> Response:
    """Every line item of the window that passes the filters, as ``/v1/line-items`` serves them (a period's
    statement lines, or a raw window's provisional lines), with their ``line_id``."""
    s, e = asked.resolve(settings)
    keep = filters.resolve(session, settings, principal)
    found = cache.window(session, s, e, asked.period_name).set
    kept = [(x, x.total_cents) for x in kept_lines(found, keep)]
    # streamed: every read is done above, the generator only writes rows (through the cells' escape)
    return StreamingResponse(lines_csv_chunks(s, e, kept, found.status), media_type="text/csv")


@router.get("/v1/exports/focus.csv", response_class=Response, responses=CSV)
def focus_export(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    period: str,
    tenant: TenantQuery = None,
    currency: CurrencyQuery = None,
) -> Response:
    """FOCUS 1.2 Cost and Usage rows of the period's statement (frozen if closed, else provisional), in
    the billing currency (``BillingCurrency``; the USD figures in the ``PricingCurrency`` columns)."""
    name = resolve_period(period)
    keep = LineFilterParams(tenant=tenant).resolve(session, settings, principal)
    billed = currency or settings.billing_currency_for(keep.tenant)
    found = in_currency(session, build_statement(session, name), settings.currency, billed, settings.rates())
    rates = gpu_hour_rates(session, name, settings.interval_seconds)
    committed = commitment_section(session, settings, name).months
    rows = focus_rows(found, rates, keep.tenant, committed)
    return StreamingResponse(focus_csv_chunks(rows), media_type="text/csv")
