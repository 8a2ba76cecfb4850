"""What the cluster costs: GPU prices over time, tenants' reservations of pools, fixed monthly overheads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import field_validator

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
from attribution.model.names import canonical_name


class GpuPrice(StrictModel):
    """Price of one GPU-hour of a type, effective from a UTC instant until the next price of that type."""

    gpu_type: str
    usd_per_gpu_hour: UsdAmount
    effective_from: UtcInstant = datetime(1970, 1, 1, tzinfo=UTC)

    @field_validator("gpu_type")
    @classmethod
    def _known_gpu(cls, v: str) -> str:
        catalog = VALIDATING_CATALOG.get()
        if v not in catalog.gpus:
            raise ValueError(unknown_gpu_message(v, catalog))
        return v

    @property
    def usd_micros_per_gpu_hour(self) -> int:
        return usd_to_micros(self.usd_per_gpu_hour)


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
