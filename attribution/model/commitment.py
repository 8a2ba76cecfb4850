"""A commitment (a reservation paid for a term) amortised over whole UTC months, and its unused part.

Amortisation telescopes: after ``k`` of the term's ``n`` months, ``floor(total x k / n)`` micro-USD have
been recognised, so month ``k`` recognises ``floor(total x k / n) - floor(total x (k - 1) / n)``. Every
month is within one micro-dollar of ``total / n``, and the months sum exactly to the total: nothing is
lost and nothing is added, whatever ``n`` is.

A month's commitment covers the GPU cost it was bought for (a pool's, or a GPU type's, as the attribution
billed it). What it covers is **used**, up to the month's amortised amount; the rest is **unused**: paid
for and not consumed, the FOCUS ``CommitmentDiscountStatus = Unused`` figure. Cost above the amortised
amount is simply the GPU cost the tenants already pay: a commitment never lowers or raises a tenant line.
"""

from __future__ import annotations

from dataclasses import dataclass


def amortised_usd_micros(total_usd_micros: int, months: int, month: int) -> int:
    """Micro-USD recognised in ``month`` (0-based) of a ``months``-long term: telescoping floors."""
    if months < 1 or not 0 <= month < months:
        raise ValueError(f"month {month} is outside a term of {months} months")
    if total_usd_micros < 0:
        raise ValueError("a commitment's amount is not negative")
    return total_usd_micros * (month + 1) // months - total_usd_micros * month // months


@dataclass(frozen=True, slots=True)
class CommitmentMonth:
    """One commitment in one month of its term, exact micro-USD: ``used + unused == amortised``."""

    name: str
    covers: str
    """What the commitment is for: ``pool <name>`` or ``GPU type <type>``."""
    month: int
    """0-based month of the term."""
    months: int
    amortised_usd_micros: int
    covered_cost_usd_micros: int
    """The GPU cost of what it covers in the month, as attributed (may exceed the amortised amount)."""

    @property
    def used_usd_micros(self) -> int:
        return min(self.amortised_usd_micros, max(self.covered_cost_usd_micros, 0))

    @property
    def unused_usd_micros(self) -> int:
        return self.amortised_usd_micros - self.used_usd_micros
