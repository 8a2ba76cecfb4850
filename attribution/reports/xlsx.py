"""The monthly statement as an XLSX workbook: one sheet per view, amounts in currency units to the cent.

Amounts are written as exact decimals of cents (``Decimal(cents) / 100``) with a two-decimal number
format, so each sheet's rows sum to its total row and to the summary's statement total, to the cent.
Totals are written as values rather than formulas: a reader that does not evaluate formulas (openpyxl,
pandas, most BI loaders) sees the same figure as Excel.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.reports.cells import safe_row
from attribution.reports.monthly import StatementReport, bill_label, build_statement_report
from attribution.reports.statement_currency import Billed
from attribution.reports.statement_views import Row, cents_half_even
from attribution.timeutil import iso

MONEY_FORMAT = "#,##0.00"
MEASURES = (
    "requests",
    "prompt tokens",
    "generated tokens",
    "memory (GiB-hours)",
    "KV in use ({c})",
    "static share ({c})",
    "idle share ({c})",
    "idle cold ({c})",
    "idle warm ({c})",
    "KV headroom ({c})",
    "unmeasured ({c})",
    "recovery ({c})",
    "total ({c})",
)
SHEETS = ("Summary", "Tenants", "Tenant x tier", "Pools", "Daily", "Coverage")


def amount(cents: int) -> Decimal:
    return Decimal(cents) / 100


def _values(row: Row) -> list[Any]:
    return [
        row.requests,
        row.prompt_tokens,
        row.generation_tokens,
        round(row.memory_gib_hours, 6),
        *(amount(c) for c in row.component_cents[:3]),
        # the idle share by kind, where the row knows it (the daily rows do not)
        *(amount(c) if row.kinds_known else None for c in row.idle_kind_cents),
        *(amount(c) for c in row.component_cents[3:]),
        amount(row.total_cents),
    ]


def _append(ws: Worksheet, values: Sequence[Any]) -> None:
    """The one way a row enters a sheet: every cell escaped (:func:`safe_row`), and every text cell typed
    as text, so openpyxl never stores one as a formula whatever it begins with."""
    ws.append(safe_row(values))
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def _view_sheet(
    ws: Worksheet, currency: str, key_names: Sequence[str], rows: Sequence[Row], total: Row
) -> None:
    _append(ws, [*key_names, *(m.format(c=currency) for m in MEASURES)])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        _append(ws, [*r.key, *_values(r)])
    _append(ws, ["total", *([""] * (len(key_names) - 1)), *_values(total)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    first_money = len(key_names) + 5
    for column in ws.iter_cols(min_col=first_money, max_col=first_money + 4, min_row=2):
        for cell in column:
            cell.number_format = MONEY_FORMAT
    ws.freeze_panes = "A2"
    for i, name in enumerate([*key_names, *MEASURES]):
        ws.column_dimensions[get_column_letter(i + 1)].width = max(12, min(len(name) + 4, 28))


def _bill(r: StatementReport) -> str:
    """The summary's label of the cluster cost: "so far" until every interval is attributed."""
    return "cluster cost for the period" if r.coverage.complete else bill_label(r)


def _summary_sheet(ws: Worksheet, r: StatementReport, with_cluster_total: bool) -> None:
    """As the HTML summary: a tenant's workbook shows the cluster's bill and the statement total of every
    tenant only when finance asks for them (``with_cluster_total``)."""
    cluster = r.tenant is None or with_cluster_total
    facts: list[tuple[str, Any]] = [
        ("period", r.period),
        ("window (UTC, half-open)", f"[{iso(r.start)}, {iso(r.end)})"),
        ("scope", r.scope),
        ("status", r.status),
        ("provisional", "yes: the period is open and figures may change" if r.provisional else "no"),
        ("source", r.source),
        ("content hash (sha256)", r.content_hash or ""),
        ("currency", r.currency),
        *([(f"{_bill(r)} ({r.currency})", amount(r.cluster_cost_cents))] if cluster else []),
        (f"usage ({r.currency})", amount(r.usage.total_cents)),
        (f"corrections billed here ({r.currency})", amount(r.corrections.total_cents)),
        (f"total ({r.currency})", amount(r.total.total_cents)),
    ]
    if cluster:
        facts.append((f"statement total, every tenant ({r.currency})", amount(r.cluster_total_cents)))
    for key, value in facts:
        _append(ws, [key, value])
        if isinstance(value, Decimal):
            ws.cell(ws.max_row, 2).number_format = MONEY_FORMAT
    ws.column_dimensions["A"].width = 46
    ws.column_dimensions["B"].width = 70


def _billed_sheet(ws: Worksheet, b: Billed, pricing: str) -> None:
    """The statement in its billing currency: per tenant, then the total they sum to exactly."""
    since = iso(b.rate_effective_from) if b.rate_effective_from else ""
    _append(ws, ["billing currency", b.currency])
    _append(ws, [f"exchange rate ({b.currency} per {pricing})", b.rate])
    _append(ws, ["rate in effect from", since])
    _append(ws, ["tenant", f"billed ({b.currency})"])
    style = "#,##0" if b.exponent == 0 else "#,##0." + "0" * b.exponent
    for tenant, minor in [*b.tenants, ("total billed", b.total_minor)]:
        _append(ws, [tenant, Decimal(minor).scaleb(-b.exponent)])
        ws.cell(ws.max_row, 2).number_format = style
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 24


def _coverage_sheet(ws: Worksheet, r: StatementReport) -> None:
    c = r.coverage
    _append(ws, ["measure", "value"])
    _append(ws, ["intervals in the period", c.intervals_in_period])
    _append(ws, ["intervals attributed", c.intervals_attributed])
    _append(ws, ["complete", "yes" if c.complete else "no"])
    for source, n in sorted(c.intervals_with_data.items()):
        _append(ws, [f"intervals with {source} data", n])
    _append(
        ws,
        [f"cost from estimated intervals ({r.currency})", amount(cents_half_even(c.estimated_usd_micros))],
    )
    _append(ws, [f"unmeasured cost ({r.currency})", amount(cents_half_even(c.unmeasured_usd_micros))])
    _append(ws, [])
    _append(ws, ["collector", "source", "status", "intervals"])
    for row in c.source_status:
        _append(ws, list(row))
    ws.column_dimensions["A"].width = 40


def render_statement_xlsx(r: StatementReport, with_cluster_total: bool = False) -> bytes:
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "Summary"
    _summary_sheet(summary, r, with_cluster_total)
    views: list[tuple[str, list[str], list[Row], Row]] = [
        ("Tenants", ["tenant"], r.tenants, r.total),
        ("Tenant x tier", ["tenant", "tier"], r.tenant_tiers, r.total),
        ("Pools", r.pool_keys, r.pools, r.total),
        ("Daily", ["day (UTC)"], r.daily, r.total),
    ]
    if r.by_cluster:  # several clusters: each tenant's charge in each (none with one cluster)
        views.insert(1, ("Cluster x tenant", ["cluster", "tenant"], r.cluster_tenants, r.total))
    if r.correction_rows:
        views.append(("Corrections", r.correction_keys, r.correction_rows, r.corrections))
    for title, keys, rows, total in views:
        _view_sheet(wb.create_sheet(title), r.currency, keys, rows, total)
    if r.billed is not None:
        _billed_sheet(wb.create_sheet(f"Billed {r.billed.currency}"), r.billed, r.currency)
    _coverage_sheet(wb.create_sheet("Coverage"), r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def build_statement_xlsx(
    session: Session,
    settings: Settings,
    period: str,
    tenant: str | None = None,
    with_cluster_total: bool = False,
) -> bytes:
    """The statement of ``period`` (whole cluster, or one tenant) as an XLSX workbook; for one tenant,
    ``with_cluster_total`` adds the cluster's bill and every tenant's total (finance's reconciliation)."""
    return render_statement_xlsx(
        build_statement_report(session, settings, period, tenant), with_cluster_total
    )
