"""A statement in its billing currency: which rate applies, and the conversion that sums exactly.

The rate of a period is the one in effect at the period's start (a month is billed at one rate, known
before the month is used); a closed period uses the rate recorded when it closed, so a later change of
the configured rates never alters an issued statement. Amounts convert per charge class as the cents do
(usage and corrections apart): each class total is converted once, half-even at the currency's minor unit,
and handed to its lines by largest remainder (:func:`attribution.model.currency.convert_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from itertools import groupby

from sqlalchemy.orm import Session

from attribution.errors import CurrencyError
from attribution.model.currency import Rate, convert_lines, minor_exponent, rate_at
from attribution.reports.period_statement import Statement
from attribution.store.statements import frozen_rates
from attribution.timeutil import iso, period_window


def period_rate(
    session: Session, period: str, status: str, pricing: str, currency: str, rates: Sequence[Rate]
) -> tuple[Decimal, datetime | None]:
    """The rate ``period`` converts at: recorded at close if it was, else configured at its start.

    A currency first configured after the period closed has no recorded rate; it converts at the
    configured rate in effect at the period's start, which is also what a close would have recorded.
    """
    if currency == pricing:
        return Decimal(1), None
    if status == "closed" and (recorded := frozen_rates(session, period).get(currency)) is not None:
        return recorded
    start, _ = period_window(period)
    found = rate_at(rates, pricing, currency, start)
    if found is None:
        raise CurrencyError(
            f"no {pricing}->{currency} exchange rate is in effect at {iso(start)} (start of {period}); "
            f'add [[exchange_rates]] from = "{pricing}" to = "{currency}" with effective_from <= {iso(start)}'
        )
    return found.rate, found.effective_from


def convert_statement(
    statement: Statement, currency: str, rate: Decimal, effective_from: datetime | None
) -> Statement:
    """``statement`` with its billing amounts in ``currency`` minor units at ``rate``; USD untouched."""
    exponent = minor_exponent(currency)
    minor: list[int] = []
    for _, group in groupby(statement.lines, key=lambda x: x.charge_class):
        minor += convert_lines([x.total_usd_micros for x in group], rate, exponent)
    return replace(
        statement,
        billing_currency=currency,
        exchange_rate=str(rate),
        rate_effective_from=effective_from,
        billing_exponent=exponent,
        total_billing_minor=sum(minor),
        line_billing_minor=tuple(minor),
    )


def in_currency(
    session: Session, statement: Statement, pricing: str, currency: str, rates: Sequence[Rate]
) -> Statement:
    """``statement`` in ``currency`` (the pricing currency leaves it as it is: cents are its minor unit)."""
    try:
        minor_exponent(currency)
    except ValueError as exc:
        raise CurrencyError(str(exc)) from None
    if currency == pricing:
        return statement
    rate, effective_from = period_rate(session, statement.period, statement.status, pricing, currency, rates)
    return convert_statement(statement, currency, rate, effective_from)
