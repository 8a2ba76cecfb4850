"""API schemas, kept apart from the tables. Money is integer cents and integer micro-USD; every figure
carries its unit in its name. Times are RFC 3339 UTC strings with ``Z``."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
#: A non-negative decimal with at most six places (exact money: no floats, no exponents).
DECIMAL_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"


class ErrorBody(BaseModel):
    error: str = Field(description="stable machine-readable code")
    detail: str


class TenantChargeOut(BaseModel):
    tenant: str
    tier: str | None = Field(default=None, description="set when grouped by tenant_tier")
    pool: str | None = Field(default=None, description="set when grouped by tenant_pool")
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    memory_gib_hours: float
    kv_in_use_cents: int
    static_cents: int
    idle_cents: int
    idle_cold_cents: int = Field(
        description="idle of GPUs in no pool (and overheads); with the next two, idle_cents"
    )
    idle_warm_cents: int = Field(description="idle of pool-intervals nobody used, weights loaded")
    kv_headroom_cents: int = Field(description="free KV cache of pool-intervals that served")
    unmeasured_cents: int
    recovery_cents: int = Field(0, description="recovery incidents: a pool down or reloading, GPUs paid")
    total_cents: int
    total_usd_micros: int
    estimated: bool


class ChargebackOut(BaseModel):
    start: str
    end: str
    currency: str
    group_by: str = "tenant"
    complete: bool = Field(
        description="every interval of the window has been collected and attributed: the figures are final; "
        "otherwise they hold intervals_attributed of intervals_in_window (attribution stops at the "
        "collectors' watermark) and will grow"
    )
    tenants: list[TenantChargeOut] = Field(description="one row per group, ordered by tenant, tier, pool")
    total_cents: int
    total_usd_micros: int
    cluster_cost_usd_micros: int | None = Field(
        description="the whole cluster's cost in the window; null for tenant keys"
    )
    intervals_attributed: int
    intervals_in_window: int
    coverage_intervals: dict[str, int] = Field(
        description="intervals with data per source (the cluster's coverage); empty for tenant keys"
    )
    period: str | None = Field(default=None, description="the billing period asked for, if any")
    status: str = Field(
        default="provisional",
        description="closed: a closed period's issued statement; open: an open period's provisional "
        "statement; provisional: a raw window of the stored lines",
    )
    provisional: bool = Field(default=True, description="amounts may still change (not an issued statement)")
    content_hash: str | None = Field(default=None, description="a closed period's statement hash")


class LineItemOut(BaseModel):
    """One pool x tenant x tier (x charge class and period) over the window. ``total_cents`` is rounded by
    largest remainder over all lines of the window (as a statement is), so it does not depend on filters
    or pages; for a period, the line is the statement's line, to the cent."""

    line_id: str = Field(description="unique and stable; a closed period's ids cover its content hash")
    tenant: str
    pool: str
    tier: str
    charge_class: str = Field(description="usage, or correction of an earlier closed period")
    charge_period: str | None = Field(
        description="the period whose cost the line carries; null for a raw window"
    )
    start: str
    end: str
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    memory_gib_hours: float
    kv_in_use_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    idle_cold_usd_micros: int = Field(description="idle of GPUs in no pool (and overheads)")
    idle_warm_usd_micros: int = Field(description="idle of pool-intervals nobody used, weights loaded")
    kv_headroom_usd_micros: int = Field(
        description="free KV cache of pool-intervals that served; the three kinds sum to idle_usd_micros"
    )
    unmeasured_usd_micros: int
    recovery_usd_micros: int = Field(0, description="recovery incidents: a pool down or reloading, GPUs paid")
    total_usd_micros: int
    total_cents: int
    estimated: bool


class Page(BaseModel, Generic[T]):
    """The one envelope of cursor-paged lists: pass ``next_cursor`` as ``cursor`` for the next page."""

    data: list[T]
    limit: int
    has_more: bool
    next_cursor: str | None


class LineItemsPage(Page[LineItemOut]):
    """A page of line items, with where its amounts come from."""

    period: str | None = Field(default=None, description="the billing period asked for, if any")
    status: str = Field(
        default="provisional",
        description="closed: a closed period's issued statement; open: an open period's provisional "
        "statement; provisional: a raw window of the stored lines",
    )
    provisional: bool = Field(default=True, description="amounts may still change (not an issued statement)")
    content_hash: str | None = Field(default=None, description="a closed period's statement hash")


class UsagePointOut(BaseModel):
    start: str
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    memory_gib_hours: float
    total_usd_micros: int


class UsageOut(BaseModel):
    tenant: str
    start: str
    end: str
    step_seconds: int
    points: list[UsagePointOut] = Field(description="buckets with usage only, in time order")


class PoolPointOut(BaseModel):
    start: str
    cost_usd_micros: int
    kv_in_use_usd_micros: int
    kv_free_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    unmeasured_usd_micros: int
    recovery_usd_micros: int = 0
    kv_usage_ratio: float | None


class PoolOut(BaseModel):
    pool: str
    intervals: int
    gpu_hours: float
    mean_gpu_count: float
    kv_capacity_gib: float
    kv_usage_ratio: float | None = Field(description="KV cache in use over capacity")
    idle_ratio: float | None = Field(description="idle cost over the pool's cost")
    gpu_util_percent: float | None
    cost_usd_micros: int
    cost_cents: int
    kv_in_use_usd_micros: int
    kv_free_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    unmeasured_usd_micros: int
    recovery_usd_micros: int = Field(0, description="the cost of its intervals inside recovery incidents")
    estimated: bool
    series: list[PoolPointOut] = Field(default_factory=list, description="with step_seconds only")


class PoolsOut(BaseModel):
    start: str
    end: str
    pools: list[PoolOut]


class GapOut(BaseModel):
    start: str
    end: str
    status: str = Field(description="missing, estimated, unplaced or not_collected")


class SourceCoverageOut(BaseModel):
    collector: str
    source: str
    present: int
    estimated: int
    missing: int = Field(description="collected, but the source had no data (final: on __unmeasured__)")
    not_collected: int = Field(description="never collected (before the first watermark, or not backfilled)")
    unplaced: int = Field(0, description="intervals with series the collector could not place")
    gaps: list[GapOut]
    gaps_truncated: bool


class PoolCoverageOut(BaseModel):
    collector: str = Field(description="gateway: the source of tenant usage")
    pool: str
    engine_active: int = Field(description="intervals in which the pool's engines showed work")
    present: int = Field(description="of those, intervals with tenant usage from the gateway")
    missing: int = Field(description="of those, intervals without: telemetry gaps, on __unmeasured__")
    gaps: list[GapOut]
    gaps_truncated: bool


class CoverageOut(BaseModel):
    start: str
    end: str
    interval_seconds: int
    intervals_in_window: int
    intervals_attributed: int
    complete: bool = Field(
        description="every interval collected by each source with a watermark or a row here, and attributed"
    )
    sources: list[SourceCoverageOut]
    pools: list[PoolCoverageOut] = Field(
        default_factory=list, description="per pool, the gateway's coverage where its engines worked"
    )


class TierOut(BaseModel):
    tier: str
    requests: int
    tokens: int
    memory_gib_hours: float
    total_usd_micros: int
    total_cents: int
    usd_per_request: str | None = Field(description="exact decimal USD per request (9 places)")
    usd_per_million_tokens: str | None = Field(description="exact decimal USD per 1M tokens (6 places)")
    gib_hours_per_request: float | None


class TiersOut(BaseModel):
    start: str
    end: str
    pool: str | None
    tiers: list[TierOut]
    total_usd_micros: int


class BandIn(BaseModel):
    """A price band: a request with at least ``from_tokens`` of context has every token at these prices."""

    model_config = ConfigDict(extra="forbid")

    from_tokens: int = Field(ge=0, le=100_000_000)
    input_usd_per_million: str = Field(pattern=DECIMAL_PATTERN, examples=["3.00"])
    output_usd_per_million: str = Field(pattern=DECIMAL_PATTERN, examples=["15.00"])


class PriceListIn(BaseModel):
    """A price list as in deploy/pricing/*.toml: one band is a flat price; later bands reprice whole
    requests from their threshold on (docs/reports.md)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="price list", max_length=200)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    bands: list[BandIn] = Field(min_length=1, max_length=50)


class PeriodOut(BaseModel):
    period: str
    status: str = Field(description="open or closed")
    closed_at: str | None
    content_hash: str | None = Field(description="SHA-256 of the frozen statement")
    total_usd_micros: int | None
    total_cents: int | None


class StatementLineOut(BaseModel):
    charge_class: str = Field(description="usage, or correction of an earlier closed period")
    charge_period: str
    pool: str
    tenant: str
    tier: str
    kv_in_use_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    idle_cold_usd_micros: int = Field(description="idle of GPUs in no pool (and overheads)")
    idle_warm_usd_micros: int = Field(description="idle of pool-intervals nobody used, weights loaded")
    kv_headroom_usd_micros: int = Field(
        description="free KV of pool-intervals that served; the kinds sum to idle, outside the content hash"
    )
    unmeasured_usd_micros: int
    recovery_usd_micros: int = Field(0, description="recovery incidents; in the content hash when not 0")
    total_usd_micros: int
    total_cents: int
    kv_token_seconds: float
    kv_byte_seconds: float
    requests: int
    prompt_tokens: int
    generation_tokens: int
    total_billing_minor: int = Field(
        description="the line in minor units of billing_currency (cents, yen); lines sum to the total"
    )


class PricePartOut(BaseModel):
    part: str = Field(description="capex, power or colocation")
    usd_per_gpu_hour: str = Field(
        description="the month's part over its hours, to the micro-dollar (display)"
    )
    usd_per_gpu_month: str
    basis: str = Field(description="how the part is figured, with the configured figures")


class PriceInEffectOut(BaseModel):
    effective_from: str
    basis: str = Field(description="on_demand, reserved, spot, or derived from a purchase")
    usd_per_gpu_hour: str
    parts: list[PricePartOut] = Field(description="a derived price's parts; empty for a direct price")


class GpuTypeBasisOut(BaseModel):
    gpu_type: str
    gpus: int
    usd_micros: int = Field(description="the period's cost of these GPUs, as attributed")
    prices: list[PriceInEffectOut]


class CommitmentMonthOut(BaseModel):
    name: str
    covers: str = Field(description="pool <name> or GPU type <type>")
    month_of_term: int = Field(description="1-based month of the term this period is")
    term_months: int
    amortised_usd_micros: int = Field(description="this month's share of the amount: telescoping floors")
    covered_cost_usd_micros: int = Field(description="the GPU cost of what it covers this month")
    used_usd_micros: int
    unused_usd_micros: int = Field(description="amortised less used: paid for and not consumed")
    amortised_usd: str
    used_usd: str
    unused_usd: str


class StatementOut(BaseModel):
    period: str
    status: str = Field(description="closed (frozen) or open (provisional)")
    lines: list[StatementLineOut]
    total_usd_micros: int
    total_cents: int
    content_hash: str | None
    closed_at: str | None
    billing_currency: str = Field(description="ISO 4217 code of the billed amounts (docs/currencies.md)")
    exchange_rate: str = Field(description="units of billing_currency per USD, exact; 1 when USD")
    rate_effective_from: str | None = Field(description="when the rate took effect; null for USD")
    billing_exponent: int = Field(description="ISO 4217 minor-unit exponent: 2 for EUR, 0 for JPY")
    total_billing_minor: int = Field(description="the statement total in billing minor units")
    price_basis: list[GpuTypeBasisOut] = Field(
        default=[], description="each inventory GPU type's prices in the period, with a derived price's parts"
    )
    commitments: list[CommitmentMonthOut] = Field(
        default=[], description="each commitment in its term this period: amortised, used, unused (USD)"
    )


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str] = Field(description="each dependency: ok, or why not")
