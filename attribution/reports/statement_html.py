"""The monthly statement as one self-contained HTML file: inline CSS and SVG, no script, printable.

Tables carry the exact figures in cents (every view sums to the statement total shown in its footer);
charts beside them are drawings of the same numbers. ``@media print`` keeps tables and charts whole on a
page and drops the screen-only colouring, so finance can print or save it as PDF from any browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.model.money import format_micros
from attribution.reports.charts import statement_charts
from attribution.reports.commitments import CommitmentSection, commitment_section
from attribution.reports.monthly import StatementReport, bill_label, build_statement_report
from attribution.reports.price_basis import GpuTypeBasis, price_basis
from attribution.reports.statement_views import Row, cents_half_even
from attribution.timeutil import iso

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #111; margin: 24px; max-width: 1180px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #999; }
.status { display: inline-block; padding: 2px 8px; border-radius: 4px; font-weight: bold; }
.status.closed { background: #d8f0dc; } .status.open { background: #fde2c0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 12px; }
th, td { border: 1px solid #bbb; padding: 3px 7px; } th { background: #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; background: #f6f6f6; }
.note { font-size: 12px; color: #333; max-width: 900px; } .hash { font-family: monospace; font-size: 11px; }
figure { margin: 12px 0; page-break-inside: avoid; break-inside: avoid; }
svg.chart { max-width: 100%; height: auto; }
@media print {
  body { margin: 0; max-width: none; } .status { border: 1px solid #000; background: none; }
  table, figure, .summary { page-break-inside: avoid; break-inside: avoid; }
  h2 { page-break-after: avoid; break-after: avoid; }
  @page { size: A4 landscape; margin: 12mm; }
}
"""

COLUMNS = ("requests", "tokens in", "tokens out", "memory GiB-h", "KV in use", "static share", "idle share")
COLUMNS_END = ("idle cold", "idle warm", "KV headroom", "unmeasured", "recovery", "total")
"""The idle share by kind right after it (blank where unknown: days), then the other components."""


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{frac:02d}"


def _cells(row: Row) -> str:
    figures = [f"{row.requests:,}", f"{row.prompt_tokens:,}", f"{row.generation_tokens:,}"]
    figures.append(f"{row.memory_gib_hours:,.2f}")
    kv, static, idle, unmeasured, recovery = row.component_cents
    figures += [money(c) for c in (kv, static, idle)]
    figures += [money(c) if row.kinds_known else "" for c in row.idle_kind_cents]
    figures += [money(c) for c in (unmeasured, recovery, row.total_cents)]
    return "".join(f'<td class="n">{f}</td>' for f in figures)


def view_table(table_id: str, caption: str, key_names: Sequence[str], rows: Sequence[Row], total: Row) -> str:
    head = "".join(f"<th scope='col'>{escape(k)}</th>" for k in (*key_names, *COLUMNS, *COLUMNS_END))
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(k)}</td>" for k in r.key) + _cells(r) + "</tr>" for r in rows
    )
    foot = f"<tr><td colspan='{len(key_names)}'>total</td>{_cells(total)}</tr>"
    return (
        f'<table id="{table_id}"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table>"
    )


def _header(r: StatementReport) -> str:
    if r.provisional:
        status = (
            '<span class="status open">PROVISIONAL</span> the period is open: figures come from the '
            "attributed interval lines and may change until it is closed."
        )
    else:
        closed = iso(r.closed_at) if r.closed_at else ""
        status = (
            f'<span class="status closed">CLOSED</span> issued {escape(closed)} from the frozen statement '
            f'lines; content hash <span class="hash">sha256 {escape(r.content_hash or "")}</span>'
        )
    return (
        f"<h1>Chargeback statement {escape(r.period)}: {escape(r.scope)}</h1>"
        f'<p class="note">{status}</p>'
        f'<p class="note">Period [{iso(r.start)}, {iso(r.end)}) UTC. Amounts in {escape(r.currency)}, '
        "rounded once per statement line (pool x tenant x tier) by largest remainder; every table below is "
        "a sum of those rounded lines and adds up to the statement total.</p>"
    )


def _summary(r: StatementReport, with_cluster_total: bool) -> str:
    """A tenant's statement leaves out the cluster's bill and the other tenants' total unless finance asks
    for the reconciliation (``with_cluster_total``): a tenant is not told what everyone else spent."""
    rows: list[tuple[str, int]] = []
    if r.tenant is None or with_cluster_total:
        rows.append((bill_label(r), r.cluster_cost_cents))
    if r.tenant is None:
        rows += [
            ("attributed usage, every tenant", r.usage.total_cents),
            ("not attributed (bill minus usage)", r.cluster_cost_cents - r.usage.total_cents),
            ("corrections of earlier periods billed here", r.corrections.total_cents),
            ("statement total", r.total.total_cents),
        ]
    else:
        rows += [
            (f"usage of {r.tenant}", r.usage.total_cents),
            ("corrections of earlier periods billed here", r.corrections.total_cents),
            (f"total for {r.tenant}", r.total.total_cents),
        ]
        if with_cluster_total:
            rows += [
                ("other tenants", r.cluster_total_cents - r.total.total_cents),
                ("statement total, every tenant", r.cluster_total_cents),
            ]
    body = "".join(f"<tr><td>{escape(k)}</td><td class='n'>{money(v)}</td></tr>" for k, v in rows)
    return (
        f'<table id="summary" class="summary"><caption>Summary ({escape(r.currency)})</caption>'
        f"<tbody>{body}</tbody></table>"
    )


def _billed(r: StatementReport) -> str:
    """The statement in its billing currency, per tenant, summing exactly to its total there."""
    b = r.billed
    if b is None:
        return ""
    rows = "".join(
        f"<tr><td>{escape(t)}</td><td class='n'>{b.formatted(minor)}</td></tr>" for t, minor in b.tenants
    )
    since = f", in effect from {iso(b.rate_effective_from)}" if b.rate_effective_from else ""
    return (
        f'<section id="billed"><h2>Billed in {escape(b.currency)}</h2>'
        f'<table class="summary"><caption>Billed ({escape(b.currency)})</caption><tbody>{rows}'
        f"<tr class='total'><td>total billed</td><td class='n'>{b.formatted(b.total_minor)}</td></tr>"
        f'</tbody></table><p class="note">At {escape(b.rate)} {escape(b.currency)} per {escape(r.currency)}'
        f"{since}. Each charge class's total is converted once, half-even at the currency's minor unit, "
        "and handed to the lines by largest remainder, so the amounts sum exactly to the total "
        "(docs/currencies.md).</p></section>"
    )


def _coverage(r: StatementReport) -> str:
    c = r.coverage
    sources = ", ".join(f"{k} {v:,}" for k, v in sorted(c.intervals_with_data.items())) or "none recorded"
    parts = [
        f"{c.intervals_attributed:,} of {c.intervals_in_period:,} intervals attributed"
        + ("" if c.complete else " (incomplete: the period cannot close until all are)"),
        f"intervals with data per source: {sources}",
        "cost from intervals with estimated KV usage: " + money(cents_half_even(c.estimated_usd_micros)),
        "unmeasured cost (GPUs or pools without telemetry): "
        + money(cents_half_even(c.unmeasured_usd_micros)),
    ]
    missing = [s for s in c.source_status if s[2] != "present"]
    if missing:
        parts.append(
            "sources with gaps: "
            + "; ".join(f"{col}/{src} {status} {n:,} intervals" for col, src, status, n in missing)
        )
    items = "".join(f"<li>{escape(p)}</li>" for p in parts)
    return f'<section id="coverage"><h2>Coverage and estimates</h2><ul class="note">{items}</ul></section>'


def _price_basis(basis: Sequence[GpuTypeBasis], with_cost: bool) -> str:
    """Each GPU type's prices in the period, a derived price part by part; the types' GPU cost only where
    the cluster's totals are shown (a tenant's statement leaves them out)."""
    if not basis:
        return ""
    head = ["GPU type", "from", "basis", "part", "USD per GPU-hour", "USD per GPU-month", "how"]
    rows = []
    for b in basis:
        for price in b.prices:
            first = [b.gpu_type, price.effective_from, price.basis]
            rows.append([*first, "total", price.usd_per_gpu_hour, "", ""])
            rows += [[*first, x.part, x.usd_per_gpu_hour, x.usd_per_gpu_month, x.basis] for x in price.parts]
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    costs = "; ".join(f"{b.gpu_type}: {b.gpus} GPUs, {money(cents_half_even(b.usd_micros))}" for b in basis)
    note = f'<p class="note">GPU cost of the period by type: {escape(costs)}.</p>' if with_cost else ""
    return (
        '<section id="price-basis"><h2>Price basis</h2><table><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + f"</tr></thead><tbody>{body}</tbody></table>{note}</section>"
    )


def _commitments(section: CommitmentSection | None) -> str:
    """Each commitment's month: amortised, used by what it covers, unused (the platform's cost)."""
    if section is None or not section.months:
        return ""
    head = ["commitment", "covers", "month of term", "amortised (USD)", "used (USD)", "unused (USD)"]
    rows = [
        [m.name, m.covers, f"{m.month + 1} of {m.months}"]
        + [format_micros(v) for v in (m.amortised_usd_micros, m.used_usd_micros, m.unused_usd_micros)]
        for m in section.months
    ]
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    note = (
        f'<p class="note">Unused commitments this period: {format_micros(section.unused_usd_micros)} USD, '
        "paid for and not consumed; billed to no tenant.</p>"
    )
    return (
        '<section id="commitments"><h2>Commitments</h2><table><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + f"</tr></thead><tbody>{body}</tbody></table>{note}</section>"
    )


def render_statement_html(
    r: StatementReport,
    with_cluster_total: bool = False,
    basis: Sequence[GpuTypeBasis] = (),
    commitments: CommitmentSection | None = None,
) -> str:
    """The document; for one tenant, ``with_cluster_total`` adds the other tenants' and the statement's
    totals to the summary (finance's reconciliation; a statement sent to the tenant leaves them out).
    ``basis`` is the period's price basis (:mod:`attribution.reports.price_basis`)."""
    charts = "".join(f"<figure>{svg}</figure>" for svg in statement_charts(r))
    tables = [
        view_table("tenants", "Per tenant", ["tenant"], r.tenants, r.total),
        view_table(
            "tenant-tiers", "Per tenant and context tier", ["tenant", "tier"], r.tenant_tiers, r.total
        ),
        view_table("pools", "Per pool", r.pool_keys, r.pools, r.total),
        view_table("daily", "Per day (UTC)", ["day"], r.daily, r.total),
    ]
    if r.correction_rows:
        tables.append(
            view_table(
                "corrections",
                "Corrections of closed periods billed in this one",
                r.correction_keys,
                r.correction_rows,
                r.corrections,
            )
        )
    titles = ["Tenants", "Tenants by context tier", "Pools", "Days", "Corrections"]
    if r.by_cluster:  # several clusters: each tenant's charge in each, after the tenants' totals
        titles.insert(1, "Tenants by cluster")
        tables.insert(
            1,
            view_table(
                "cluster-tenants", "Per cluster and tenant", ["cluster", "tenant"], r.cluster_tenants, r.total
            ),
        )
    sections = "".join(f"<h2>{t}</h2>{table}" for t, table in zip(titles, tables, strict=False))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>Chargeback statement {escape(r.period)} '
        f"({escape(r.scope)})</title><style>{CSS}</style></head><body>"
        f"{_header(r)}<h2>Summary</h2>{_summary(r, with_cluster_total)}{_billed(r)}{_coverage(r)}"
        f"<h2>Charts</h2>{charts}{sections}"
        f"{_price_basis(basis, with_cluster_total or r.tenant is None)}"
        f"{_commitments(commitments if with_cluster_total or r.tenant is None else None)}"
        "</body></html>\n"
    )


def build_statement_html(
    session: Session,
    settings: Settings,
    period: str,
    tenant: str | None = None,
    with_cluster_total: bool = False,
) -> str:
    """The statement of ``period`` (whole cluster, or one tenant) as a self-contained HTML document."""
    return render_statement_html(
        build_statement_report(session, settings, period, tenant),
        with_cluster_total,
        price_basis(settings, period),
        commitment_section(session, settings, period),
    )
