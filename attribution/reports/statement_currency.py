"""A statement in its billing currency: which rate applies, and the conversion that sums exactly.

The rate of a period is the one in effect at the period's start (a month is billed at one rate, known
before the month is used); a closed period uses the rate recorded when it closed, so a later change of
the configured rates never alters an issued statement. Amounts convert per charge class as the cents do
(usage and corrections apart): each class total is converted once, half-even at the currency's minor unit,
and handed to its lines by largest remainder (:func:`attribution.model.currency.convert_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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


@dataclass(frozen=True, slots=True)
class Billed:
    """What a statement (or one tenant's part of it) bills in a currency other than the pricing one: the
    converted statement's line amounts, summed per tenant. They sum exactly to ``total_minor`` because
    every line's amount is its share of its charge class's total, converted once (docs/currencies.md)."""

    currency: str
    exponent: int
    rate: str
    rate_effective_from: datetime | None
    tenants: list[tuple[str, int]]
    total_minor: int

    def formatted(self, minor: int) -> str:
        """``minor`` units as a decimal in this currency, grouped: ``1,234.56``, ``196,996`` for yen."""
        return f"{Decimal(minor).scaleb(-self.exponent):,.{self.exponent}f}"


def billed_of(
    session: Session,
    statement: Statement,
    pricing: str,
    currency: str,
    rates: Sequence[Rate],
    tenant: str | None = None,
) -> Billed | None:
    """``statement`` in ``currency`` as :class:`Billed` (``tenant``'s lines only when given); None when it
    bills in the pricing currency, whose cents the statement already shows."""
    if currency == pricing:
        return None
    converted = in_currency(session, statement, pricing, currency, rates)
    by_tenant: dict[str, int] = {}
    for line, minor in zip(converted.lines, converted.line_billing_minor, strict=True):
        if tenant is None or line.tenant == tenant:
            by_tenant[line.tenant] = by_tenant.get(line.tenant, 0) + minor
    return Billed(
        currency=currency,
        exponent=converted.billing_exponent,
        rate=converted.exchange_rate,
        rate_effective_from=converted.rate_effective_from,
        tenants=sorted(by_tenant.items()),
        total_minor=sum(by_tenant.values()),
    )
