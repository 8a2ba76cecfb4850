"""Exact splitting of integer money (micro-USD) with the largest-remainder method.

Every split here returns parts that sum exactly to the amount split. Ties in the remainder go to the
larger weight, then to the earlier position, so callers order their keys deterministically (sorted) before
splitting: the same inputs then give the same parts to the micro-dollar, whatever order rows arrived in.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

MICROS_PER_CENT = 10_000


def largest_remainder(
    numerators: Sequence[int], denominator: int, total: int, tiebreak: Sequence[int]
) -> list[int]:
    """Integers summing to ``total``, each the floor of its exact share ``numerator / denominator`` plus
    one unit for the largest remainders; ties go to the larger ``tiebreak``, then the earlier position.

    The one rounding rule of every split here (:func:`allocate`, :func:`round_to_unit`) and of currency
    conversion (:mod:`attribution.model.currency`). Integers over one common denominator, not Fractions:
    it runs on every interval's split. ``total`` must lie within ``[sum of floors, sum of floors +
    len(numerators)]``, which holds whenever it is the exact sum rounded in any way; anything else is a
    ``ValueError`` (a silent clamp would lose money). Floors go towards minus infinity, so credits work.
    """
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    quotients = [divmod(n, denominator) for n in numerators]
    parts = [q for q, _ in quotients]
    leftover = total - sum(parts)
    if leftover < 0 or leftover > len(parts):
        raise ValueError(f"a total of {total} units is not reachable from these amounts")
    if leftover:
        order = sorted(range(len(parts)), key=lambda i: (-quotients[i][1], -tiebreak[i], i))
        for i in order[:leftover]:
            parts[i] += 1
    return parts


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to non-negative integer ``weights`` (Hare-Niemeyer).

    Invariants: the parts sum to ``total``; each part is within one unit of its exact share; a larger weight
    never gets a smaller part. A negative total (a credit) is split by its absolute value, then negated.
    """
    if min(weights, default=0) < 0:
        raise ValueError("weights must be non-negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("cannot allocate over weights that sum to zero")
    if total < 0:
        return [-part for part in allocate(-total, weights)]
    if len(weights) == 1:
        return [total]
    return largest_remainder([total * w for w in weights], weight_sum, total, weights)


def round_to_unit(amounts: Sequence[int], unit: int, total_units: int | None = None) -> list[int]:
    """Round integer ``amounts`` to multiples of ``unit`` (returned as counts of units) keeping the total.

    ``total_units`` defaults to the total rounded half-even; pass a parent's already-rounded figure to make
    children sum to it exactly (hierarchical rounding: cluster to tenant to component).
    Floors every amount, then hands the leftover units to the largest remainders.
    """
    if unit <= 0:
        raise ValueError("unit must be positive")
    if total_units is None:
        total_units = int((Decimal(sum(amounts)) / unit).to_integral_value(ROUND_HALF_EVEN))
    return largest_remainder(amounts, unit, total_units, amounts)


def micros_to_cents(amounts_usd_micros: Sequence[int], total_cents: int | None = None) -> list[int]:
    """Statement rounding: each line to cents, the lines summing to the (given or rounded) total."""
    return round_to_unit(amounts_usd_micros, MICROS_PER_CENT, total_cents)


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def format_micros(usd_micros: int) -> str:
    sign = "-" if usd_micros < 0 else ""
    whole, frac = divmod(abs(usd_micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"
