"""Pricing-tier analysis: what a price list earns against what each context tier and tenant costs.

Cost is the period's attributed cost (the statement's usage lines: frozen once the period is closed).
Revenue is what the price list would have charged for the same requests. Stored usage is per tenant x
context tier (requests, prompt and generated tokens), not per request, so each stored tier is priced as a
whole at the band its mean context per request falls in (kept inside the tier's own range). When a price
threshold lies strictly inside a stored tier the split of that tier's requests across the threshold is
unknown: the tier is flagged ``straddles_threshold``; set the context-tier boundaries
(``tiers.boundaries_tokens``) at the price thresholds to make revenue exact. Stored tiers are by total
context (prompt + generated) where providers price by input; for long-context requests, where generation
is a small part, the two agree closely.

Money is exact: revenue is a Decimal of micro-USD per cell (tenant x tier), rounded once to whole
micro-USD; roll-ups sum the cells, and cents are rounded by largest remainder so tables add up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, Overflow, localcontext
from typing import Any

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.model.money import allocate
from attribution.model.statement import USAGE, Line
from attribution.reports.period_statement import build_statement
from attribution.reports.pricelist import Band, PriceList, PriceListError
from attribution.reports.statement_views import cents_half_even, tier_sort_key

#: Break-even prices are kept to this many decimal places of USD per 1M tokens (a 1e-12 step moves the
#: revenue of a trillion tokens by one micro-dollar), so that they make a margin zero to the cent.
BREAK_EVEN_PLACES = Decimal("1e-12")
#: Significant digits for break-even prices: a price up to 1e9 USD per 1M tokens times a multiplier of up
#: to ~1e24 (a micro-dollar of cost per 1e-6 of revenue) with 12 decimal places fits in 60.
BREAK_EVEN_PRECISION = 60


@dataclass(frozen=True, slots=True)
class BreakEven:
    """The prices that make a tier's margin zero: its current prices times ``multiplier`` (or, where it
    earned nothing, one price per token that recovers its cost)."""

    multiplier: Decimal | None
    input_usd_per_million: Decimal
    output_usd_per_million: Decimal


@dataclass(slots=True)
class Priced:
    key: tuple[str, ...]
    requests: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    cost_usd_micros: int = 0
    revenue_usd_micros: int = 0
    cost_cents: int = 0
    revenue_cents: int = 0
    band: Band | None = None
    straddles_threshold: bool = False
    break_even: BreakEven | None = None

    @property
    def margin_usd_micros(self) -> int:
        return self.revenue_usd_micros - self.cost_usd_micros

    @property
    def margin_cents(self) -> int:
        return self.revenue_cents - self.cost_cents

    @property
    def cost_usd_per_million_tokens(self) -> Decimal | None:
        """Cost per 1M tokens processed (micro-USD per token is numerically USD per 1M tokens)."""
        tokens = self.prompt_tokens + self.generation_tokens
        return (Decimal(self.cost_usd_micros) / tokens).quantize(Decimal("1e-6")) if tokens else None

    def add(self, other: Priced) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.generation_tokens += other.generation_tokens
        self.cost_usd_micros += other.cost_usd_micros
        self.revenue_usd_micros += other.revenue_usd_micros
        self.cost_cents += other.cost_cents
        self.revenue_cents += other.revenue_cents

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": list(self.key),
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "generation_tokens": self.generation_tokens,
            "cost_usd_micros": self.cost_usd_micros,
            "revenue_usd_micros": self.revenue_usd_micros,
            "margin_usd_micros": self.margin_usd_micros,
            "cost_cents": self.cost_cents,
            "revenue_cents": self.revenue_cents,
            "margin_cents": self.margin_cents,
            "cost_usd_per_million_tokens": _str(self.cost_usd_per_million_tokens),
        }
        if self.band is not None:
            body["band_from_tokens"] = self.band.from_tokens
            body["input_usd_per_million"] = str(self.band.input_usd_per_million)
            body["output_usd_per_million"] = str(self.band.output_usd_per_million)
            body["straddles_threshold"] = self.straddles_threshold
        if self.break_even is not None:
            multiplier = self.break_even.multiplier
            body["break_even"] = {
                "multiplier": None if multiplier is None else str(multiplier),
                "input_usd_per_million": str(self.break_even.input_usd_per_million),
                "output_usd_per_million": str(self.break_even.output_usd_per_million),
            }
        return body


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Subsidy:
    """Margin of ``payer`` that covers the loss of ``receiver``, in micro-USD (see ``subsidies``)."""

    payer: str
    receiver: str
    usd_micros: int


@dataclass(slots=True)
class TierAnalysis:
    period: str
    status: str
    pool: str | None
    currency: str
    price_list: PriceList
    tiers: list[Priced]
    tenants: list[Priced]
    tenant_tiers: list[Priced]
    unpriced: Priced
    total: Priced
    tier_floors_tokens: dict[str, int] = field(default_factory=dict)
    tier_subsidies: list[Subsidy] = field(default_factory=list)
    tenant_subsidies: list[Subsidy] = field(default_factory=list)

    @property
    def provisional(self) -> bool:
        return self.status != "closed"

    def flat_break_even(self) -> BreakEven | None:
        """One price list for every tier (the first band's input:output ratio) that recovers the total."""
        band = self.price_list.bands[0]
        priced = [t for t in self.tiers if t.requests or t.prompt_tokens or t.generation_tokens]
        revenue = sum(band.revenue_usd_micros(t.prompt_tokens, t.generation_tokens) for t in priced)
        tokens = sum(t.prompt_tokens + t.generation_tokens for t in priced)
        return _break_even(self.total.cost_usd_micros, Decimal(revenue), band, tokens)

    def break_even_price_list(self) -> PriceList:
        """A band per stored tier at its break-even prices: under it every tier's margin is zero."""
        bands = [
            Band(
                self.tier_floors_tokens[t.key[0]],
                t.break_even.input_usd_per_million,
                t.break_even.output_usd_per_million,
            )
            for t in self.tiers
            if t.break_even is not None
        ]
        if not bands:
            return self.price_list
        bands[0] = Band(0, bands[0].input_usd_per_million, bands[0].output_usd_per_million)
        return PriceList(f"break-even of {self.price_list.name}", self.currency, tuple(bands))

    def to_dict(self) -> dict[str, Any]:
        def subsidies(items: list[Subsidy]) -> list[dict[str, Any]]:
            return [{"from": s.payer, "to": s.receiver, "usd_micros": s.usd_micros} for s in items]

        flat = self.flat_break_even()
        return {
            "period": self.period,
            "status": self.status,
            "provisional": self.provisional,
            "pool": self.pool,
            "currency": self.currency,
            "price_list": self.price_list.name,
            "thresholds_tokens": self.price_list.thresholds_tokens,
            "tiers": [t.to_dict() for t in self.tiers],
            "tenants": [t.to_dict() for t in self.tenants],
            "tenant_tiers": [t.to_dict() for t in self.tenant_tiers],
            "unpriced": self.unpriced.to_dict(),
            "total": self.total.to_dict(),
            "tier_subsidies": subsidies(self.tier_subsidies),
            "tenant_subsidies": subsidies(self.tenant_subsidies),
            "flat_break_even": None
            if flat is None
            else {
                "input_usd_per_million": str(flat.input_usd_per_million),
                "output_usd_per_million": str(flat.output_usd_per_million),
            },
        }


def tier_ranges(settings: Settings) -> dict[str, tuple[int, int | None]]:
    """Each stored tier's half-open range of context tokens; the last is open-ended."""
    edges = [0, *settings.tiers.boundaries_tokens]
    highs: list[int | None] = [*settings.tiers.boundaries_tokens, None]
    return {name: (lo, hi) for name, lo, hi in zip(settings.tiers.names, edges, highs, strict=True)}


def _break_even(cost: int, revenue: Decimal, band: Band, tokens: int) -> BreakEven | None:
    """Prices kept to 1e-12 can need more than Decimal's default 28 digits (a tier that earns a millionth
    of a micro-dollar against a thousand dollars of cost needs ~40), so they are computed with 60; a
    price list that still breaks the arithmetic is refused as a bad price list, never a 500."""
    try:
        if revenue > 0:
            k = Decimal(cost) / revenue
            with localcontext(prec=BREAK_EVEN_PRECISION):
                return BreakEven(
                    k,
                    (band.input_usd_per_million * k).quantize(BREAK_EVEN_PLACES, ROUND_HALF_EVEN),
                    (band.output_usd_per_million * k).quantize(BREAK_EVEN_PLACES, ROUND_HALF_EVEN),
                )
        if tokens > 0:
            with localcontext(prec=BREAK_EVEN_PRECISION):
                price = (Decimal(cost) / tokens).quantize(BREAK_EVEN_PLACES, ROUND_HALF_EVEN)
            return BreakEven(None, price, price)
    except (InvalidOperation, Overflow) as exc:
        raise PriceListError(
            f"the band from {band.from_tokens} tokens gives break-even prices beyond what can be computed "
            f"exactly (input {band.input_usd_per_million}, output {band.output_usd_per_million} USD per 1M "
            "tokens): use prices closer to each other"
        ) from exc
    return None


def subsidies(rows: list[Priced]) -> list[Subsidy]:
    """Who covers whose loss: the losses that the gains cover (the smaller of the two totals), split
    over every (gainer, loser) pair in proportion to gain x loss, exactly (largest remainder)."""
    gains = [(r.key[-1], r.margin_usd_micros) for r in rows if r.margin_usd_micros > 0]
    losses = [(r.key[-1], -r.margin_usd_micros) for r in rows if r.margin_usd_micros < 0]
    covered = min(sum(g for _, g in gains), sum(loss for _, loss in losses))
    if covered <= 0:
        return []
    pairs = [(g_key, l_key, g * loss) for g_key, g in gains for l_key, loss in losses]
    amounts = allocate(covered, [w for *_, w in pairs])
    return [Subsidy(p, r, a) for (p, r, _), a in zip(pairs, amounts, strict=True) if a]


def _cells(lines: list[Line], ranges: dict[str, Any], pool: str | None) -> tuple[list[Priced], Priced]:
    """Usage lines summed per tenant x tier, sorted; lines outside every tier (idle, unmeasured,
    reservations) go to one unpriced row: they cost money but carry no tokens to price."""
    cells: dict[tuple[str, str], Priced] = {}
    unpriced = Priced(("unpriced",))
    for x in lines:
        if x.charge_class != USAGE or (pool is not None and x.pool != pool):
            continue
        key = (x.tenant, x.tier)
        target = cells.setdefault(key, Priced(key)) if x.tier in ranges else unpriced
        target.add(
            Priced((), x.requests, x.prompt_tokens, x.generation_tokens, x.total_usd_micros, 0, x.total_cents)
        )
    return [cells[k] for k in sorted(cells, key=lambda k: (k[0], tier_sort_key(k[1])))], unpriced


def _bands(
    cells: list[Priced], ranges: dict[str, tuple[int, int | None]], price_list: PriceList
) -> dict[str, Band]:
    """Each stored tier's band: where its mean context per request falls, kept inside the tier's range."""
    requests: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    for cell in cells:
        requests[cell.key[1]] += cell.requests
        tokens[cell.key[1]] += cell.prompt_tokens + cell.generation_tokens
    bands = {}
    for name, (lo, hi) in ranges.items():
        mean = max(tokens[name] / requests[name] if requests[name] else lo, lo)
        bands[name] = price_list.band_for(mean if hi is None else min(mean, hi - 1))
    return bands


def analyse_lines(
    lines: list[Line], settings: Settings, price_list: PriceList, period: str, status: str, pool: str | None
) -> TierAnalysis:
    """The analysis of a statement's usage lines under ``price_list`` (pure: no database)."""
    ranges = tier_ranges(settings)
    cells, unpriced = _cells(lines, ranges, pool)
    bands = _bands(cells, ranges, price_list)
    for cell in cells:
        exact = bands[cell.key[1]].revenue_usd_micros(cell.prompt_tokens, cell.generation_tokens)
        cell.revenue_usd_micros = int(exact.to_integral_value(ROUND_HALF_EVEN))
    _round_cents(cells, unpriced)
    tiers = {name: Priced((name,), band=bands[name]) for name in ranges}
    tenants: dict[str, Priced] = {}
    for cell in cells:
        tiers[cell.key[1]].add(cell)
        tenants.setdefault(cell.key[0], Priced((cell.key[0],))).add(cell)
    thresholds = price_list.thresholds_tokens
    for name, tier in tiers.items():
        lo, hi = ranges[name]
        tier.straddles_threshold = any(lo < t and (hi is None or t < hi) for t in thresholds)
        tokens = tier.prompt_tokens + tier.generation_tokens
        exact = bands[name].revenue_usd_micros(tier.prompt_tokens, tier.generation_tokens)
        tier.break_even = _break_even(tier.cost_usd_micros, exact, bands[name], tokens)
    total = Priced(("total",))
    for cell in [*cells, unpriced]:
        total.add(cell)
    tier_rows, tenant_rows = list(tiers.values()), [tenants[k] for k in sorted(tenants)]
    return TierAnalysis(
        period, status, pool, settings.currency, price_list, tier_rows, tenant_rows, cells, unpriced, total,
        {name: lo for name, (lo, _) in ranges.items()}, subsidies(tier_rows), subsidies(tenant_rows),
    )  # fmt: skip


def _round_cents(cells: list[Priced], unpriced: Priced) -> None:
    """Revenue cents per cell, each rounded half-even on its own: a cell's revenue cents then depend only
    on its own usage and price, so a what-if never moves a cent in a tier whose price did not change.
    Cost cents are not rounded here: each cell carries the sum of its statement lines' cents, so a tier's
    or tenant's cost is the statement's cent figure, as the chargeback and ``/v1/tiers`` show it. Every
    roll-up sums the cells."""
    for cell in cells:
        cell.revenue_cents = cents_half_even(cell.revenue_usd_micros)


def analyse_tiers(
    session: Session, settings: Settings, period: str, price_list: PriceList, pool: str | None = None
) -> TierAnalysis:
    """Revenue under ``price_list`` against attributed cost, per tier and tenant, for ``period``."""
    statement = build_statement(session, period)
    return analyse_lines(statement.lines, settings, price_list, period, statement.status, pool)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The same period under two price lists: per tier, revenue and margin before and after."""

    baseline: TierAnalysis
    scenario: TierAnalysis

    def rows(self) -> list[dict[str, Any]]:
        out = []
        pairs = [*zip(self.baseline.tiers, self.scenario.tiers, strict=True)]
        pairs.append((self.baseline.total, self.scenario.total))
        for a, b in pairs:
            out.append(
                {
                    "tier": a.key[0],
                    "revenue_cents": a.revenue_cents,
                    "what_if_revenue_cents": b.revenue_cents,
                    "margin_cents": a.margin_cents,
                    "what_if_margin_cents": b.margin_cents,
                    "margin_change_cents": b.margin_cents - a.margin_cents,
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_dict(),
            "what_if": self.scenario.to_dict(),
            "compare": self.rows(),
        }


def analyse_what_if(
    session: Session,
    settings: Settings,
    period: str,
    price_list: PriceList,
    what_if_list: PriceList,
    pool: str | None = None,
) -> WhatIf:
    """The period under the current price list and under a changed one (a threshold, a price)."""
    statement = build_statement(session, period)
    return WhatIf(
        analyse_lines(statement.lines, settings, price_list, period, statement.status, pool),
        analyse_lines(statement.lines, settings, what_if_list, period, statement.status, pool),
    )
