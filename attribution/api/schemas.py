"""API schemas, kept apart from the tables. Money is integer cents and integer micro-USD."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="stable machine-readable code")
    detail: str


class TenantChargeOut(BaseModel):
    tenant: str
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    memory_gib_hours: float
    kv_in_use_cents: int
    static_cents: int
    idle_cents: int
    unmeasured_cents: int
    total_cents: int
    total_usd_micros: int
    estimated: bool


class ChargebackOut(BaseModel):
    start: str
    end: str
    currency: str
    complete: bool = Field(description="every interval of the window has been attributed")
    tenants: list[TenantChargeOut]
    total_cents: int
    total_usd_micros: int
    cluster_cost_usd_micros: int
    intervals_attributed: int
    intervals_in_window: int
    coverage_intervals: dict[str, int]


class Health(BaseModel):
    status: str
