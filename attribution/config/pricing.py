"""What the cluster costs: GPU prices over time, tenants' reservations of pools, fixed monthly overheads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pydantic import Field, field_validator, model_validator

from attribution.catalog.registry import unknown_gpu_message
from attribution.config.types import (
    VALIDATING_CATALOG,
    StrictModel,
    UsdAmount,
    UtcInstant,
    fraction_to_ppm,
    unreserved_name,
    usd_to_micros,
)
from attribution.model.derived_price import (
    DerivedPoint,
    PricingPoint,
    is_month_start,
    month_of,
    month_parts,
)
from attribution.model.gpu_cost import PricePoint
from attribution.model.names import canonical_name


class PriceBasis(StrEnum):
    """Where a GPU-hour price comes from, as finance names it; shown in statements' ``price_basis``."""

    ON_DEMAND = "on_demand"
    RESERVED = "reserved"
    SPOT = "spot"
    DERIVED = "derived"


class DerivedGpuPrice(StrictModel):
    """A GPU-hour price derived from a purchase: capex straight-line over ``depreciation_months`` from the
    price's ``effective_from`` (the first instant of a UTC month), power from a nameplate wattage, and
    colocation per rack or node. See docs/pricing.md for the exact arithmetic and its rounding rule."""

    purchase_usd: UsdAmount
    gpus_per_purchase: int = Field(1, ge=1)
    residual_usd: UsdAmount = "0"
    depreciation_months: int = Field(ge=1, le=600)
    watts_per_gpu: int = Field(0, ge=0, le=100_000)
    pue: str = "1"
    usd_per_kwh: UsdAmount = "0"
    colocation_usd_per_month: UsdAmount = "0"
    gpus_per_colocation: int = Field(1, ge=1)
    measured_power: bool = True
    """Cost the power of a GPU from the energy dcgm measured (``DCGM_FI_DEV_POWER_USAGE``) in each
    interval it reported it, ``watts_per_gpu`` (the nameplate) otherwise; false: the nameplate always."""

    @field_validator("pue", mode="before")
    @classmethod
    def _pue(cls, v: Any) -> str:
        if isinstance(v, float):
            raise ValueError('pue must be a decimal string such as "1.3", not a float')
        try:
            value = Decimal(str(v))
        except InvalidOperation:
            raise ValueError(f'pue {v!r} is not a decimal; give it as a string such as "1.3"') from None
        if not value.is_finite() or not 1 <= value <= 10:
            raise ValueError(f"pue {v} must be between 1 and 10 (facility power over IT power)")
        return str(v)

    @model_validator(mode="after")
    def _residual_below_purchase(self) -> DerivedGpuPrice:
        if usd_to_micros(self.residual_usd) > usd_to_micros(self.purchase_usd):
            raise ValueError(
                f"residual_usd {self.residual_usd} exceeds purchase_usd {self.purchase_usd}: "
                "the residual is what the purchase is still worth at the end, at most its price"
            )
        return self


class GpuPrice(StrictModel):
    """Price of one GPU-hour of a type, effective from a UTC instant until the next price of that type:
    given directly (``usd_per_gpu_hour``, on-demand, reserved or spot) or ``derived`` from a purchase."""

    gpu_type: str
    usd_per_gpu_hour: UsdAmount | None = None
    derived: DerivedGpuPrice | None = None
    basis: PriceBasis | None = None
    effective_from: UtcInstant = datetime(1970, 1, 1, tzinfo=UTC)

    @field_validator("gpu_type")
    @classmethod
    def _known_gpu(cls, v: str) -> str:
        catalog = VALIDATING_CATALOG.get()
        if v not in catalog.gpus:
            raise ValueError(unknown_gpu_message(v, catalog))
        return v

    @model_validator(mode="after")
    def _direct_or_derived(self) -> GpuPrice:
        if (self.usd_per_gpu_hour is None) == (self.derived is None):
            raise ValueError(
                f"gpu_prices for {self.gpu_type!r} from {self.effective_from.isoformat()}: give either "
                "usd_per_gpu_hour or a [gpu_prices.derived] table, exactly one"
            )
        if self.derived is not None:
            if self.basis not in (None, PriceBasis.DERIVED):
                raise ValueError(f"gpu_prices for {self.gpu_type!r}: a derived price has basis 'derived'")
            if not is_month_start(int(self.effective_from.timestamp())):
                raise ValueError(
                    f"gpu_prices for {self.gpu_type!r}: a derived price starts depreciating at the first "
                    f"instant of a UTC month; effective_from {self.effective_from.isoformat()} is not one"
                )
        elif self.basis is PriceBasis.DERIVED:
            raise ValueError(
                f"gpu_prices for {self.gpu_type!r}: basis 'derived' needs a [gpu_prices.derived] table"
            )
        return self

    @property
    def price_basis(self) -> PriceBasis:
        if self.derived is not None:
            return PriceBasis.DERIVED
        return self.basis or PriceBasis.ON_DEMAND

    def point(self) -> PricingPoint:
        """The model's effective-dated point for this price, in exact micro-USD."""
        start_s = int(self.effective_from.timestamp())
        d = self.derived
        if d is None:
            return PricePoint(start_s, usd_to_micros(self.usd_per_gpu_hour or "0"))
        return DerivedPoint(
            effective_from_s=start_s,
            purchase_usd_micros=usd_to_micros(d.purchase_usd),
            gpus_per_purchase=d.gpus_per_purchase,
            residual_usd_micros=usd_to_micros(d.residual_usd),
            depreciation_months=d.depreciation_months,
            watts_per_gpu=d.watts_per_gpu,
            pue=Fraction(Decimal(d.pue)),
            usd_micros_per_kwh=usd_to_micros(d.usd_per_kwh),
            colocation_usd_micros_per_month=usd_to_micros(d.colocation_usd_per_month),
            gpus_per_colocation=d.gpus_per_colocation,
            measured_power=d.measured_power,
        )

    @property
    def usd_micros_per_gpu_hour(self) -> int:
        """The direct price; for a derived one, :meth:`indicative_usd_micros_per_gpu_hour` in its first
        month."""
        return self.indicative_usd_micros_per_gpu_hour(int(self.effective_from.timestamp()))

    def indicative_usd_micros_per_gpu_hour(self, at_s: int) -> int:
        """The direct price; for a derived one, the cost of one GPU in the month of ``at_s`` (its first
        month, if earlier) spread over that month's hours, rounded half up: a figure for what-if analysis,
        never for the bill."""
        point = self.point()
        if isinstance(point, PricePoint):
            return point.usd_micros_per_gpu_hour
        parts = month_parts(point, month_of(max(at_s, point.effective_from_s))[1])
        return int((parts.total / parts.hours + Fraction(1, 2)).__floor__())


class ReservationConfig(StrictModel):
    """A tenant reserves a fraction of a pool: under the ``reserved`` idle policy it pays that fraction of
    the pool's idle cost while the reservation is in effect, ``[effective_from, effective_to)``."""

    tenant: str
    pool: str
    fraction: str
    effective_from: UtcInstant
    effective_to: UtcInstant | None = None

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return unreserved_name(v, "tenant")

    @field_validator("pool")
    @classmethod
    def _canonical(cls, v: str) -> str:
        return canonical_name(v)

    @field_validator("fraction", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> str:
        if isinstance(v, float):
            raise ValueError("fractions must be decimal strings, not floats")
        fraction_to_ppm(str(v))
        return str(v)

    @property
    def fraction_ppm(self) -> int:
        return fraction_to_ppm(self.fraction)


class OverheadConfig(StrictModel):
    """A fixed monthly cost (network, storage, staff) shared like cluster idle. A change applies from the
    first month that starts on or after its ``effective_from``."""

    name: str
    usd_per_month: UsdAmount
    effective_from: UtcInstant = datetime(1970, 1, 1, tzinfo=UTC)

    @property
    def usd_micros_per_month(self) -> int:
        return usd_to_micros(self.usd_per_month)


class CommitmentConfig(StrictModel):
    """A reservation or commitment: ``amount_usd`` paid for the whole UTC months ``[term_start, term_end)``
    to cover one pool's GPUs or one GPU type's; amortised month by month exactly (docs/pricing.md,
    "Commitments"), the part its pool or type did not consume shown as unused."""

    name: str
    """Names the commitment in statements and in the FOCUS export (``x_CommitmentDiscountName``)."""
    amount_usd: UsdAmount
    """What the whole term costs, however it is paid (up front or monthly)."""
    term_start: UtcInstant
    """The first instant of the term's first UTC month."""
    term_end: UtcInstant
    """The first instant of the UTC month after the term (excluded)."""
    pool: str | None = None
    """The pool whose GPUs it covers (or ``gpu_type``)."""
    gpu_type: str | None = None
    """The GPU type whose inventory it covers (or ``pool``)."""

    @field_validator("pool")
    @classmethod
    def _canonical_pool(cls, v: str | None) -> str | None:
        return None if v is None else canonical_name(v)

    @model_validator(mode="after")
    def _term_and_target(self) -> CommitmentConfig:
        for label, at in (("term_start", self.term_start), ("term_end", self.term_end)):
            if not is_month_start(int(at.timestamp())):
                raise ValueError(f"{label} {at.isoformat()} is not the first instant of a UTC month")
        if self.term_end <= self.term_start:
            raise ValueError("term_end must be after term_start (the term is whole months, end excluded)")
        if (self.pool is None) == (self.gpu_type is None):
            raise ValueError("a commitment covers exactly one of: pool, gpu_type")
        return self

    @property
    def amount_usd_micros(self) -> int:
        return usd_to_micros(self.amount_usd)

    @property
    def months(self) -> int:
        return month_of(int(self.term_end.timestamp()))[0] - month_of(int(self.term_start.timestamp()))[0]

    def month_index(self, period_start: datetime) -> int | None:
        """Which month of the term ``period_start`` (a month's first instant) is, or None outside it."""
        if not self.term_start <= period_start < self.term_end:
            return None
        return month_of(int(period_start.timestamp()))[0] - month_of(int(self.term_start.timestamp()))[0]

    @property
    def covers(self) -> str:
        return f"pool {self.pool}" if self.pool is not None else f"GPU type {self.gpu_type}"
