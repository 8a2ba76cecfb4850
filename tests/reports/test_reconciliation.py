"""Every view of a period sums to the same total, to the cent: HTML tables, every XLSX sheet, the analyst
SQL views, the chargeback, the tier analysis, and the cluster's bill for the period."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from attribution.errors import NotFoundError
from attribution.reports.chargeback import build_chargeback
from attribution.reports.monthly import bill_label, build_statement_report
from attribution.reports.pricelist import Band, PriceList
from attribution.reports.pricing import analyse_tiers
from attribution.reports.statement_html import build_statement_html
from attribution.reports.statement_views import cents_half_even
from attribution.reports.xlsx import build_statement_xlsx
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.timeutil import period_window
from tests.reports.readback import cents, html_tables, html_view, xlsx_cents, xlsx_sheets
from tests.support.billing_history import History

# 4 H100 at $2.99 an hour: November (720 h) and the first five days of December (120 h), by hand
NOV_BILL_CENTS = 4 * 299 * 720
DEC_BILL_CENTS = 4 * 299 * 120
PERIODS = [("2026-11", NOV_BILL_CENTS), ("2026-12", DEC_BILL_CENTS)]
FLAT = PriceList("flat", "USD", (Band(0, Decimal("3"), Decimal("15")),))


def analyst_view_micros(session: Session, view: str, period: str) -> int:
    start, end = period_window(period)
    total = session.execute(
        text(f"SELECT COALESCE(SUM(total_usd_micros), 0) FROM {view} WHERE day >= :s AND day < :e"),
        {"s": start.date(), "e": end.date()},
    ).scalar_one()
    return int(total)


@pytest.mark.parametrize(("period", "bill_cents"), PERIODS)
def test_every_view_sums_to_the_cluster_bill(history: History, period: str, bill_cents: int) -> None:
    with history.factory() as session:
        report = build_statement_report(session, history.settings, period)
        document = build_statement_html(session, history.settings, period)
        sheets = xlsx_sheets(build_statement_xlsx(session, history.settings, period))
        start, end = period_window(period)
        bill_micros, _ = cluster_cost_usd_micros(session, start, end)
        views = {
            v: analyst_view_micros(session, v, period) for v in ("daily_tenant_costs", "daily_tier_costs")
        }
        views["daily_pool_costs"] = analyst_view_micros(session, "daily_pool_costs", period)
        chargeback = build_chargeback(session, start, end, history.settings.interval_seconds)
        tiers = analyse_tiers(session, history.settings, period, FLAT)
    total = report.total.total_cents
    assert report.cluster_cost_cents == bill_cents == cents_half_even(bill_micros)
    # the statement: usage is the bill; corrections of November billed in December net to zero here
    assert report.usage.total_cents == bill_cents and report.corrections.total_cents == 0
    assert total == bill_cents == report.cluster_total_cents
    for view in (report.tenants, report.tenant_tiers, report.pools, report.daily):
        assert sum(r.total_cents for r in view) == total
        for i in range(4):  # and each component column sums to the total row's component
            assert sum(r.component_cents[i] for r in view) == report.total.component_cents[i]
    # the HTML tables, read back as text
    for table_id in ("tenants", "tenant-tiers", "pools", "daily"):
        rows, foot = html_view(document, table_id)
        assert sum(cents(r["total"]) for r in rows) == cents(foot["total"]) == total, table_id
        for column in ("KV in use", "static share", "idle share", "unmeasured"):
            assert sum(cents(r[column]) for r in rows) == cents(foot[column]), (table_id, column)
    summary = dict(html_tables(document)["summary"])
    # a month not yet fully attributed has no bill: its cluster cost is "so far" (issue 16)
    assert cents(summary["statement total"]) == cents(summary[bill_label(report)]) == total
    assert ("(the bill)" in bill_label(report)) == report.coverage.complete
    assert cents(summary["not attributed (bill minus usage)"]) == 0
    # every sheet of the workbook
    for name in ("Tenants", "Tenant x tier", "Pools", "Daily"):
        header, *rows, foot = sheets[name]
        column = header.index("total (USD)")
        assert sum(xlsx_cents(r[column]) for r in rows) == xlsx_cents(foot[column]) == total, name
    summary_sheet = {r[0]: r[1] for r in sheets["Summary"]}
    assert xlsx_cents(summary_sheet["total (USD)"]) == total
    bill_key = "cluster cost for the period" if report.coverage.complete else bill_label(report)
    assert xlsx_cents(summary_sheet[f"{bill_key} (USD)"]) == total
    # the analyst views and the chargeback: same lines, so the same micro-dollars as the bill
    assert views == dict.fromkeys(views, bill_micros)
    assert chargeback.total_usd_micros == bill_micros and chargeback.total_cents == total
    # the tier analysis: priced tiers plus the unpriced rest are the period's cost
    assert (
        sum(t.cost_cents for t in tiers.tiers) + tiers.unpriced.cost_cents == tiers.total.cost_cents == total
    )


def test_a_closed_period_comes_from_its_frozen_lines_with_the_hash(history: History) -> None:
    with history.factory() as session:
        november = build_statement_report(session, history.settings, "2026-11")
        december = build_statement_report(session, history.settings, "2026-12")
        document = build_statement_html(session, history.settings, "2026-11")
        open_document = build_statement_html(session, history.settings, "2026-12")
        sheets = xlsx_sheets(build_statement_xlsx(session, history.settings, "2026-11"))
    assert november.status == "closed" and november.source == "statement_lines"
    assert november.content_hash == history.november_hash
    # the late backfill changed November's interval lines, not its statement: "late" is not on it
    assert "late" not in {r.key[0] for r in november.tenants}
    assert history.november_hash in document and "CLOSED" in document and "PROVISIONAL" not in document
    assert {r[0]: r[1] for r in sheets["Summary"]}["content hash (sha256)"] == history.november_hash
    assert december.provisional and december.source == "attributed_costs" and december.content_hash is None
    assert "PROVISIONAL" in open_document
    # December bills November's corrections: the late tenant gains, the others lose, the sum is zero
    corrections = {r.key[1]: r.total_cents for r in december.correction_rows if r.key[0] == "2026-11"}
    assert sum(corrections.values()) == 0 and sum(v > 0 for v in corrections.values()) >= 1
    assert december.coverage.intervals_attributed == 120 and not december.coverage.complete
    with history.factory() as session:
        workbook = xlsx_sheets(build_statement_xlsx(session, history.settings, "2026-12"))
    assert list(workbook) == [
        "Summary",
        "Tenants",
        "Tenant x tier",
        "Pools",
        "Daily",
        "Corrections",
        "Coverage",
    ]
    header, *rows, _ = workbook["Corrections"]
    column = header.index("total (USD)")
    assert len(rows) == len(december.correction_rows) and sum(xlsx_cents(r[column]) for r in rows) == 0
    coverage = {r[0]: r[1] for r in workbook["Coverage"] if r and r[0]}
    assert coverage["intervals attributed"] == 120 and coverage["complete"] == "no"


def test_a_tenant_statement_is_that_tenants_lines_beside_the_cluster_total(history: History) -> None:
    with history.factory() as session:
        whole = build_statement_report(session, history.settings, "2026-12")
        report = build_statement_report(session, history.settings, "2026-12", tenant="acme")
        document = build_statement_html(session, history.settings, "2026-12", "acme", with_cluster_total=True)
        sheets = xlsx_sheets(build_statement_xlsx(session, history.settings, "2026-12", "acme", True))
    acme = next(r for r in whole.tenants if r.key == ("acme",))
    assert report.total.total_cents == acme.total_cents  # filtering never changes a line
    assert {r.key[0] for r in report.tenant_tiers} == {"acme"}
    assert sum(r.total_cents for r in report.daily) == acme.total_cents
    summary = dict(html_tables(document)["summary"])
    assert cents(summary["total for acme"]) + cents(summary["other tenants"]) == whole.total.total_cents
    header, *rows, foot = sheets["Daily"]
    column = header.index("total (USD)")
    assert sum(xlsx_cents(r[column]) for r in rows) == xlsx_cents(foot[column]) == acme.total_cents


def test_a_tenant_statement_leaves_out_what_other_tenants_spent(history: History) -> None:
    """By default a tenant's HTML and XLSX carry no cluster bill, other tenants' or statement total."""
    with history.factory() as session:
        whole = build_statement_report(session, history.settings, "2026-12")
        document = build_statement_html(session, history.settings, "2026-12", tenant="acme")
        sheets = xlsx_sheets(build_statement_xlsx(session, history.settings, "2026-12", tenant="acme"))
    acme = next(r for r in whole.tenants if r.key == ("acme",))
    summary = dict(html_tables(document)["summary"])
    assert set(summary) == {"usage of acme", "corrections of earlier periods billed here", "total for acme"}
    assert cents(summary["total for acme"]) == acme.total_cents
    facts = {r[0]: r[1] for r in sheets["Summary"] if r and r[0]}
    assert not [k for k in facts if "cluster" in k or "every tenant" in k]
    assert xlsx_cents(facts["total (USD)"]) == acme.total_cents
    assert len(whole.tenants) > 1  # there are other tenants whose totals could have leaked
    for figure in (
        whole.total.total_cents,
        whole.cluster_cost_cents,
        whole.total.total_cents - acme.total_cents,
    ):
        assert figure not in {cents(v) for v in summary.values()}
        assert figure not in {xlsx_cents(v) for v in facts.values() if isinstance(v, (int, float, Decimal))}


def test_an_unknown_tenant_is_not_found(history: History) -> None:
    with history.factory() as session, pytest.raises(NotFoundError, match="'nobody' has no lines"):
        build_statement_report(session, history.settings, "2026-12", tenant="nobody")


def test_the_documented_analyst_queries_run_and_the_views_reconcile_to_the_bill(history: History) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "analyst-views.md").read_text()
    queries = [q for q in re.findall(r"```sql\n(.*?)```", docs, re.S) if "$__" not in q and "GRANT" not in q]
    assert len(queries) == 3
    with history.factory() as session:
        results = [session.execute(text(q)).all() for q in queries]
    views, bill = results[-1][0]
    assert views == bill == NOV_BILL_CENTS * 10_000


def test_a_period_without_data_renders_empty_views_that_still_add_up(history: History) -> None:
    with history.factory() as session:
        report = build_statement_report(session, history.settings, "2027-01")
        document = build_statement_html(session, history.settings, "2027-01")
        sheets = xlsx_sheets(build_statement_xlsx(session, history.settings, "2027-01"))
        tiers = analyse_tiers(session, history.settings, "2027-01", FLAT)
    assert report.total.total_cents == 0 and report.tenants == [] and report.daily == []
    assert "0 of 744 intervals attributed" in document and document.count("<svg") == 5
    assert sheets["Tenants"][-1][0] == "total" and xlsx_cents(sheets["Tenants"][-1][-1]) == 0
    assert tiers.total.cost_cents == 0 and tiers.tier_subsidies == [] and tiers.flat_break_even() is None
