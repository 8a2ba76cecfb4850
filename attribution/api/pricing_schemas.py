"""The response schemas of the pricing analysis (``/v1/pricing/tiers``): prices against each tier's cost,
break-even prices and cross-subsidy. Apart from :mod:`attribution.api.schemas` so each stays a size one
can read; the API's contract is the same."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BreakEvenOut(BaseModel):
    multiplier: str | None = Field(
        description="break-even over current prices; null where nothing was earned (one price per token)"
    )
    input_usd_per_million: str
    output_usd_per_million: str


class PricedOut(BaseModel):
    """A tier, tenant or tenant x tier priced by the list; the band's fields and ``break_even`` appear only
    where a band priced it and a break-even exists."""

    key: list[str] = Field(description="the tier, the tenant, or the tenant and the tier")
    requests: int
    prompt_tokens: int
    generation_tokens: int
    cost_usd_micros: int
    revenue_usd_micros: int
    margin_usd_micros: int
    cost_cents: int
    revenue_cents: int
    margin_cents: int
    cost_usd_per_million_tokens: str | None
    band_from_tokens: int | None = None
    input_usd_per_million: str | None = None
    output_usd_per_million: str | None = None
    straddles_threshold: bool | None = None
    break_even: BreakEvenOut | None = None


class SubsidyOut(BaseModel):
    from_: str = Field(alias="from", description="the tier or tenant whose margin covers the loss")
    to: str
    usd_micros: int


class PricesOut(BaseModel):
    input_usd_per_million: str
    output_usd_per_million: str


class TierPricingOut(BaseModel):
    """What a price list would have earned against a period's attributed cost (docs/reports.md)."""

    period: str
    status: str = Field(description="closed (frozen) or open (provisional)")
    provisional: bool
    pool: str | None
    currency: str
    price_list: str
    thresholds_tokens: list[int]
    tiers: list[PricedOut]
    tenants: list[PricedOut]
    tenant_tiers: list[PricedOut]
    unpriced: PricedOut
    total: PricedOut
    tier_subsidies: list[SubsidyOut]
    tenant_subsidies: list[SubsidyOut]
    flat_break_even: PricesOut | None = Field(
        description="one price list for every tier (the first band's ratio) that recovers the total"
    )
