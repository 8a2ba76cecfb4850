"""Billing currencies and the exchange rates that convert the pricing currency (USD) into them.

Rates are exact decimals, effective-dated like GPU prices: a rate applies from its ``effective_from``
until the next rate for the same pair. A period is billed at the rate in effect at its start (see
docs/currencies.md), so a month is billed at one rate; a closed period keeps the rate it was closed with.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from attribution.config.types import StrictModel, UtcInstant
from attribution.model.currency import Rate, minor_exponent


def _currency_code(value: str) -> str:
    minor_exponent(value)  # refuses a code we have no ISO 4217 exponent for
    return value


def _exact_rate(value: object) -> str:
    if isinstance(value, float):
        raise ValueError('a rate must be a decimal string (rate = "0.9215"), not a float')
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal rate: {value!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate {value} must be a positive decimal")
    return str(value)


CurrencyCode = Annotated[str, AfterValidator(_currency_code)]
"""An ISO 4217 code we know the minor unit of (``EUR``, ``JPY``, ...)."""


class ExchangeRate(StrictModel):
    """``[[exchange_rates]] from = "USD" to = "EUR" rate = "0.9215" effective_from = "2026-11-01T00:00:00Z"``:
    one ``from`` unit buys ``rate`` units of ``to`` from that instant on."""

    from_: Annotated[CurrencyCode, Field(alias="from")]
    """The pricing currency (``currency``, USD): rates convert from it only."""
    to: CurrencyCode
    """An ISO 4217 billing currency with a known minor unit (EUR, GBP, JPY, ...)."""
    rate: Annotated[str, BeforeValidator(_exact_rate)]
    """Units of ``to`` per unit of ``from``, as an exact decimal string (a float is refused)."""
    effective_from: UtcInstant
    """From this instant until the next rate of the pair; a period bills at the rate at its start."""


def model_rates(rates: Sequence[ExchangeRate]) -> list[Rate]:
    """The configured rates as the pure model's :class:`Rate`."""
    return [Rate(r.from_, r.to, Decimal(r.rate), r.effective_from) for r in rates]


def check_rates(pricing: str, rates: Sequence[ExchangeRate], billed: Sequence[str]) -> None:
    """Every rate converts from the pricing currency, no pair has two rates from one instant, and each
    billing currency other than the pricing one has at least one rate (a missing rate for a given period
    is found when that period is converted, with the period named)."""
    seen: set[tuple[str, str, object]] = set()
    for i, r in enumerate(rates):
        if r.from_ != pricing:
            raise ValueError(
                f"exchange_rates.{i}.from: {r.from_} is not the pricing currency {pricing}; "
                f"give rates from {pricing}"
            )
        if r.to == pricing:
            raise ValueError(f"exchange_rates.{i}.to: {r.to} is the pricing currency; it needs no rate")
        key = (r.from_, r.to, r.effective_from)
        if key in seen:
            raise ValueError(f"exchange_rates.{i}: a second {r.from_}->{r.to} rate from {r.effective_from}")
        seen.add(key)
    for code in billed:
        if code != pricing and not any(r.to == code for r in rates):
            raise ValueError(
                f"billing currency {code} has no exchange rate; add [[exchange_rates]] "
                f'from = "{pricing}" to = "{code}" rate = "..." effective_from = "..."'
            )
