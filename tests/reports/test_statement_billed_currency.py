"""The billing currency in the HTML and XLSX statements and the console: a converted statement's tenant
amounts sum exactly to its converted total, which is the USD total converted once (docs/currencies.md)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.model.currency import convert_total
from attribution.reports.monthly import build_statement_report
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_html import render_statement_html
from attribution.reports.xlsx import render_statement_xlsx
from tests.support.billing_history import hourly_settings, load

APR, MAY = datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
RATES = [
    {"from": "USD", "to": "EUR", "rate": "0.9215", "effective_from": "2026-01-01T00:00:00Z"},
    {"from": "USD", "to": "EUR", "rate": "0.87", "effective_from": "2026-04-15T00:00:00Z"},
    {"from": "USD", "to": "JPY", "rate": "143.27", "effective_from": "2026-01-01T00:00:00Z"},
]


def test_a_converted_statement_sums_to_its_converted_total(db_factory: sessionmaker[Session]) -> None:
    load(db_factory, APR, 30 * 24)
    settings = hourly_settings(
        billing_currency="EUR", tenant_billing_currencies={"globex": "JPY"}, exchange_rates=RATES
    )
    run_attribution(settings, db_factory, APR, MAY)
    with db_factory() as session:
        usd = build_statement(session, "2026-04")
        whole = build_statement_report(session, settings, "2026-04")
        globex = build_statement_report(session, settings, "2026-04", "globex")
    billed = whole.billed
    assert billed is not None and (billed.currency, billed.rate) == ("EUR", "0.9215")  # the month's start
    # April has usage lines only: its total is the USD total converted once, half-even, to cents
    assert billed.total_minor == convert_total(usd.total_usd_micros, Decimal("0.9215"), 2)
    assert sum(minor for _, minor in billed.tenants) == billed.total_minor
    assert len(billed.tenants) > 2
    for tenant, minor in billed.tenants:  # each tenant within a cent per line of its exact amount
        exact = Fraction(sum(x.total_usd_micros for x in usd.lines if x.tenant == tenant), 10**4)
        lines = sum(1 for x in usd.lines if x.tenant == tenant)
        assert abs(minor - exact * Fraction(Decimal("0.9215"))) < lines

    assert globex.billed is not None and globex.billed.currency == "JPY"
    assert [t for t, _ in globex.billed.tenants] == ["globex"]

    html = render_statement_html(whole)
    assert '<section id="billed"><h2>Billed in EUR</h2>' in html
    assert f"<td>total billed</td><td class='n'>{billed.formatted(billed.total_minor)}</td>" in html
    assert "At 0.9215 EUR per USD, in effect from 2026-01-01T00:00:00Z" in html

    book = load_workbook(io.BytesIO(render_statement_xlsx(whole)))
    sheet = book["Billed EUR"]
    cells = {row[0]: row[1] for row in sheet.iter_rows(values_only=True)}
    assert cells["billing currency"] == "EUR"
    assert Decimal(str(cells["total billed"])) == Decimal(billed.total_minor).scaleb(-2)
    assert sum(Decimal(str(cells[t])) for t, _ in billed.tenants) == Decimal(billed.total_minor).scaleb(-2)


def test_a_usd_statement_shows_no_billed_section(db_factory: sessionmaker[Session]) -> None:
    load(db_factory, APR, 2 * 24)
    settings = hourly_settings()
    run_attribution(settings, db_factory, APR, datetime(2026, 4, 3, tzinfo=UTC))
    with db_factory() as session:
        report = build_statement_report(session, settings, "2026-04")
    assert report.billed is None
    assert 'id="billed"' not in render_statement_html(report)
