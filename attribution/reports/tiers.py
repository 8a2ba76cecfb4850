"""Cost by context tier: what a request and a million tokens cost in each tier, and why (memory-time).

Tiers are by a request's total context (prompt + generated). The numbers come from the same stored lines
as the chargeback, so the tiers of a window sum exactly to its cluster cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from attribution.model.money import micros_to_cents
from attribution.model.statement import USAGE, Line
from attribution.store.lines import tier_sums

GIB = 1024**3
PER_REQUEST_PLACES = Decimal("1e-9")
PER_MILLION_PLACES = Decimal("1e-6")


@dataclass(frozen=True, slots=True)
class TierCost:
    tier: str
    requests: int
    tokens: int
    memory_gib_hours: float
    total_usd_micros: int
    total_cents: int

    @property
    def usd_per_request(self) -> float | None:
        """Display only: micro-USD per request as dollars."""
        return self.total_usd_micros / self.requests / 1e6 if self.requests else None

    @property
    def usd_per_million_tokens(self) -> float | None:
        """Display only (the CLI's tables); the API serves :attr:`exact_usd_per_million_tokens`."""
        return self.total_usd_micros / self.tokens if self.tokens else None

    @property
    def exact_usd_per_request(self) -> Decimal | None:
        """Exact (the API's figure): USD per request to a thousandth of a micro-dollar."""
        if not self.requests:
            return None
        return (Decimal(self.total_usd_micros) / self.requests / 1_000_000).quantize(PER_REQUEST_PLACES)

    @property
    def exact_usd_per_million_tokens(self) -> Decimal | None:
        """Exact: micro-USD per token is numerically USD per million tokens (as the pricing analysis)."""
        if not self.tokens:
            return None
        return (Decimal(self.total_usd_micros) / self.tokens).quantize(PER_MILLION_PLACES)

    @property
    def gib_hours_per_request(self) -> float | None:
        return self.memory_gib_hours / self.requests if self.requests else None


def tier_costs(
    session: Session,
    start: datetime,
    end: datetime,
    tier_names: list[str],
    pool: str | None = None,
    cluster: str | None = None,
) -> list[TierCost]:
    """Each configured tier in order, then any special line (idle, unmeasured) whose tier is not one.

    Prices are per model, so pricing wants one pool at a time: across pools a GiB-hour costs what each
    pool's GPUs and utilisation make it cost. ``cluster`` keeps that cluster's lines, rounded among
    themselves (a raw window has no statement whose cents they could keep).
    """
    rows = tier_sums(session, start, end, pool, cluster)
    order = {name: i for i, name in enumerate(tier_names)}
    rows = sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[0]))
    cents = micros_to_cents([int(r[4]) for r in rows])
    return [
        TierCost(str(r[0]), int(r[1]), int(r[2]), float(r[3]) / GIB / 3600, int(r[4]), c)
        for r, c in zip(rows, cents, strict=True)
    ]


def statement_tier_costs(
    lines: Iterable[Line], tier_names: list[str], pool: str | None = None, cluster: str | None = None
) -> list[TierCost]:
    """A period's cost by tier from its statement's usage lines: each tier's cents are the sum of its
    lines' cents (rounded once, by the statement), so they agree with every other view of the period to
    the cent; tiers in configured order, then lines of no tier (idle, unmeasured) by name."""
    sums: dict[str, list[float]] = {}
    for x in lines:
        if x.charge_class != USAGE or (pool is not None and x.pool != pool):
            continue
        if cluster is not None and x.cluster != cluster:
            continue
        cell = sums.setdefault(x.tier, [0, 0, 0.0, 0, 0])
        cell[0] += x.requests
        cell[1] += x.prompt_tokens + x.generation_tokens
        cell[2] += x.kv_byte_seconds
        cell[3] += x.total_usd_micros
        cell[4] += x.total_cents
    order = {name: i for i, name in enumerate(tier_names)}
    names = sorted(sums, key=lambda t: (order.get(t, len(order)), t))
    return [
        TierCost(t, int(v[0]), int(v[1]), v[2] / GIB / 3600, int(v[3]), int(v[4]))
        for t, v in ((t, sums[t]) for t in names)
    ]
