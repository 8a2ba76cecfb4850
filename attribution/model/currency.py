"""Converting exact micro-USD amounts to a billing currency's minor units, summing exactly.

Pure and exact: rates are :class:`~decimal.Decimal` (as typed in the configuration), arithmetic is in
:class:`~fractions.Fraction`, results are integers of the billing currency's minor unit (cents for EUR,
yen for JPY, fils for BHD). The rule (docs/currencies.md): convert the group's exact total once, half-even
at the minor unit, then hand that total to the lines by largest remainder of their exact converted
amounts. Rounding each line on its own would let the lines drift from the total by up to half a unit per
line; this way every converted statement sums exactly to its converted total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from attribution.model.money import largest_remainder

MICROS_PER_UNIT = 1_000_000

#: ISO 4217 minor-unit exponents of the currencies we bill in. A code not here is refused by the
#: configuration: a wrong exponent would bill a hundred times too much or too little.
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2, "DKK": 2,
    "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3,
    "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PLN": 2, "SAR": 2,
    "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rate:
    """Units of ``to`` for one unit of ``source``, from ``effective_from`` on (until the next rate)."""

    source: str
    to: str
    rate: Decimal
    effective_from: datetime


def minor_exponent(currency: str) -> int:
    """The ISO 4217 exponent of ``currency``; a code we do not know is a ``ValueError``."""
    try:
        return MINOR_UNIT_EXPONENTS[currency]
    except KeyError:
        raise ValueError(f"unknown currency code {currency!r} (ISO 4217, e.g. EUR, JPY)") from None


def rate_at(rates: Sequence[Rate], source: str, to: str, at: datetime) -> Rate | None:
    """The rate from ``source`` to ``to`` in effect at ``at``: the latest with ``effective_from <= at``."""
    candidates = [r for r in rates if r.source == source and r.to == to and r.effective_from <= at]
    return max(candidates, key=lambda r: r.effective_from, default=None)


def _exact_minor(amount_micros: int, rate: Decimal, exponent: int) -> Fraction:
    scale: int = 10**exponent
    return Fraction(amount_micros * scale, MICROS_PER_UNIT) * Fraction(rate)


def _half_even(value: Fraction) -> int:
    """Python's ``round`` of a Fraction is exact and rounds halves to even."""
    return round(value)


def convert_total(amount_micros: int, rate: Decimal, exponent: int) -> int:
    """``amount_micros`` (pricing micro-units) in minor units of the billing currency, half-even."""
    if rate <= 0:
        raise ValueError("an exchange rate must be positive")
    return _half_even(_exact_minor(amount_micros, rate, exponent))


def convert_lines(amounts_micros: Sequence[int], rate: Decimal, exponent: int) -> list[int]:
    """Each amount in minor units, the parts summing exactly to :func:`convert_total` of their sum.

    Every part is its exact converted amount floored, plus one unit for the largest fractional remainders
    (ties to the larger amount, then the earlier position) until the total is reached. Credits (negative
    amounts) floor towards minus infinity, so a mixed group still lands on its total: the floors sum to
    within ``len(amounts)`` units below the exact total, never above it. Each part is within one minor
    unit of its exact amount.
    """
    total = convert_total(sum(amounts_micros), rate, exponent)
    # every exact amount over one denominator: a x 10^exponent x rate / 10^6
    exact_rate = Fraction(rate)
    denominator = MICROS_PER_UNIT * exact_rate.denominator
    scale: int = 10**exponent * exact_rate.numerator
    return largest_remainder([a * scale for a in amounts_micros], denominator, total, amounts_micros)


def format_minor(amount_minor: int, exponent: int) -> str:
    """``123456`` at exponent 2 is ``"1234.56"``; at exponent 0 it is ``"123456"``."""
    return str(Decimal(amount_minor).scaleb(-exponent))
