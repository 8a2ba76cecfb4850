"""The commitments section of a statement: each commitment's month, amortised, used and unused.

A pool's commitment covers the pool's GPU cost for the period as the attribution stored it (``pool_costs``:
so far, in an open period); a GPU type's covers its inventory's cost for the period at its prices, as the
statement's price basis gives it (:mod:`attribution.reports.price_basis`). The unused part is the
platform's cost, not a tenant's: it is shown here, in the FOCUS export as its own row (tenant
``__unused__``, pool ``__commitment__``: :mod:`attribution.reports.focus_commitments`), and never added to
a tenant's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.model.commitment import CommitmentMonth, amortised_usd_micros
from attribution.model.money import format_micros
from attribution.reports.price_basis import price_basis
from attribution.store.pools import cost_and_gpu_intervals_by_pool
from attribution.timeutil import period_window

UNUSED_TENANT = "__unused__"
COMMITMENT_POOL = "__commitment__"


@dataclass(frozen=True, slots=True)
class CommitmentSection:
    period: str
    months: list[CommitmentMonth]

    @property
    def unused_usd_micros(self) -> int:
        return sum(m.unused_usd_micros for m in self.months)

    def to_dict(self) -> list[dict[str, Any]]:
        """As JSON: exact micro-USD and the same as decimal USD strings, never floats."""
        return [
            {
                "name": m.name,
                "covers": m.covers,
                "month_of_term": m.month + 1,
                "term_months": m.months,
                "amortised_usd_micros": m.amortised_usd_micros,
                "covered_cost_usd_micros": m.covered_cost_usd_micros,
                "used_usd_micros": m.used_usd_micros,
                "unused_usd_micros": m.unused_usd_micros,
                "amortised_usd": format_micros(m.amortised_usd_micros),
                "used_usd": format_micros(m.used_usd_micros),
                "unused_usd": format_micros(m.unused_usd_micros),
            }
            for m in self.months
        ]


def commitment_section(session: Session, settings: Settings, period: str) -> CommitmentSection:
    """Every commitment whose term includes ``period`` (YYYY-MM), in configuration order."""
    start, end = period_window(period)
    active = [(c, i) for c in settings.commitments if (i := c.month_index(start)) is not None]
    if not active:
        return CommitmentSection(period, [])
    pools = {str(p): int(cost) for p, cost, _ in cost_and_gpu_intervals_by_pool(session, start, end)}
    types = (
        {b.gpu_type: b.usd_micros for b in price_basis(settings, period)}
        if any(c.gpu_type is not None for c, _ in active)
        else {}
    )
    months = []
    for c, index in active:
        covered = pools.get(c.pool, 0) if c.pool is not None else types.get(str(c.gpu_type), 0)
        amortised = amortised_usd_micros(c.amount_usd_micros, c.months, index)
        months.append(CommitmentMonth(c.name, c.covers, index, c.months, amortised, covered))
    return CommitmentSection(period, months)
