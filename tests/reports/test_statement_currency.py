"""Statements in a billing currency: the period's rate, exact sums, and a closed period's kept rate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.errors import CurrencyError
from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.model.currency import convert_total
from attribution.reports.period_statement import Statement, build_statement
from attribution.reports.statement_currency import in_currency
from attribution.store.session import unit_of_work
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store
from tests.support.billing_history import History

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
OCT_RATE = {"from": "USD", "to": "EUR", "rate": "0.95", "effective_from": "2026-10-01T00:00:00Z"}
NOV_RATE = {"from": "USD", "to": "EUR", "rate": "0.9215", "effective_from": "2026-11-01T00:00:00Z"}
MID_NOV = {"from": "USD", "to": "EUR", "rate": "0.5", "effective_from": "2026-11-15T00:00:00Z"}


def eur_settings(*rates: dict[str, str], **overrides: Any) -> Settings:
    return small_cluster_settings(
        interval_seconds=3600, billing_currency="EUR", exchange_rates=list(rates), **overrides
    )


def in_eur(factory: sessionmaker[Session], period: str, settings: Settings) -> Statement:
    with factory() as session:
        found = build_statement(session, period)
        return in_currency(session, found, "USD", "EUR", settings.rates())


def assert_sums_exactly(s: Statement, rate: Decimal, exponent: int) -> None:
    """Each charge class converts its own total once; the lines sum to it, and the classes to the total."""
    billed = list(zip(s.lines, s.line_billing_minor, strict=True))
    totals = []
    for _, group in groupby(billed, key=lambda pair: pair[0].charge_class):
        pairs = list(group)
        total = convert_total(sum(x.total_usd_micros for x, _ in pairs), rate, exponent)
        assert sum(m for _, m in pairs) == total
        totals.append(total)
    assert s.total_billing_minor == sum(totals)


def test_an_open_period_with_corrections_sums_exactly_in_eur(history: History) -> None:
    settings = eur_settings(OCT_RATE, NOV_RATE)
    december = in_eur(history.factory, "2026-12", settings)
    assert {x.charge_class for x in december.lines} == {"usage", "correction"}
    assert (december.billing_currency, december.exchange_rate, december.billing_exponent) == (
        "EUR",
        "0.9215",
        2,
    )
    assert december.rate_effective_from == NOV  # the rate in effect at December's start
    assert_sums_exactly(december, Decimal("0.9215"), 2)
    in_jpy = small_cluster_settings(
        exchange_rates=[
            {"from": "USD", "to": "JPY", "rate": "143.27", "effective_from": "2026-01-01T00:00:00Z"}
        ]
    )
    with history.factory() as session:
        yen = in_currency(session, build_statement(session, "2026-12"), "USD", "JPY", in_jpy.rates())
    assert yen.billing_exponent == 0
    assert_sums_exactly(yen, Decimal("143.27"), 0)
    one = yen.for_tenant("late")
    assert one.total_billing_minor == sum(one.line_billing_minor)


def test_the_rate_in_effect_at_the_period_start_applies_all_month(history: History) -> None:
    # a rate from mid-November does not touch November: a month is billed at one rate
    november = in_eur(history.factory, "2026-11", eur_settings(OCT_RATE, MID_NOV))
    assert november.exchange_rate == "0.95"
    assert november.total_billing_minor == convert_total(november.total_usd_micros, Decimal("0.95"), 2)


def test_a_period_without_a_rate_names_the_missing_rate(history: History) -> None:
    later = {**NOV_RATE, "effective_from": "2026-11-02T00:00:00Z"}
    with pytest.raises(CurrencyError) as info:
        in_eur(history.factory, "2026-11", eur_settings(later))
    assert str(info.value) == (
        "no USD->EUR exchange rate is in effect at 2026-11-01T00:00:00Z (start of 2026-11); add "
        '[[exchange_rates]] from = "USD" to = "EUR" with effective_from <= 2026-11-01T00:00:00Z'
    )


def test_the_pricing_currency_is_the_issued_cents(history: History) -> None:
    with history.factory() as session:
        found = build_statement(session, "2026-12")
        same = in_currency(session, found, "USD", "USD", [])
    assert same.total_billing_minor == found.total_cents
    assert same.line_billing_minor == tuple(x.total_cents for x in found.lines)
    with pytest.raises(CurrencyError, match="unknown currency code 'XXY'"), history.factory() as session:
        in_currency(session, found, "USD", "XXY", [])


def test_a_closed_period_keeps_the_rate_it_closed_with(pg_tx: sessionmaker[Session]) -> None:
    hours = 30 * 24
    usage = [create_usage_row(h * 60, "acme", "0-4k", 4e7, start=NOV) for h in range(hours)]
    store(
        pg_tx,
        create_gpu_rows(hours * 60, step_minutes=60, start=NOV),
        create_kv_rows(hours * 60, 0.3, step_minutes=60, start=NOV),
        usage,
    )
    at_close = eur_settings(OCT_RATE, NOV_RATE)
    run_attribution(at_close, pg_tx, NOV, DEC)
    with unit_of_work(pg_tx) as session:
        close_period(session, "2026-11", 3600, "k", at_close.rates())
    issued = in_eur(pg_tx, "2026-11", at_close)
    assert issued.exchange_rate == "0.9215"
    # finance corrects the November rate afterwards: the issued statement does not move
    corrected = {**NOV_RATE, "rate": "0.9"}
    after = in_eur(pg_tx, "2026-11", eur_settings(OCT_RATE, corrected))
    assert (after.exchange_rate, after.total_billing_minor) == ("0.9215", issued.total_billing_minor)
    assert after.line_billing_minor == issued.line_billing_minor
    assert_sums_exactly(after, Decimal("0.9215"), 2)
