"""The chargeback: per tenant, usage and cost by component over a window, in cents that reconcile.

Lines are summed in micro-USD from stored results, then rounded once: tenant totals to cents by largest
remainder so they sum to the window's total rounded to cents, then each tenant's components to cents so
they sum to that tenant's total (hierarchical rounding, finops.md 3.5).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from attribution.model.money import MICROS_PER_CENT, micros_to_cents
from attribution.store import queries
from attribution.timeutil import iso

GIB = 1024**3
COMPONENTS = ("kv_in_use", "static", "idle", "unmeasured")


@dataclass(frozen=True, slots=True)
class TenantCharge:
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


@dataclass(frozen=True, slots=True)
class Chargeback:
    start: datetime
    end: datetime
    currency: str
    tenants: list[TenantCharge]
    total_cents: int
    total_usd_micros: int
    cluster_cost_usd_micros: int
    intervals_attributed: int
    intervals_in_window: int
    coverage_intervals: dict[str, int]

    @property
    def complete(self) -> bool:
        return self.intervals_attributed == self.intervals_in_window

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["start"], body["end"] = iso(self.start), iso(self.end)
        body["complete"] = self.complete
        return body


def build_chargeback(
    session: Session, start: datetime, end: datetime, interval_seconds: int, currency: str = "USD"
) -> Chargeback:
    rows = queries.chargeback_by_tenant(session, start, end)
    cluster_micros, attributed = queries.cluster_cost_usd_micros(session, start, end)
    totals = [int(r.total_usd_micros) for r in rows]
    tenant_cents = micros_to_cents(totals)
    tenants = []
    for row, cents in zip(rows, tenant_cents, strict=True):
        parts = micros_to_cents([int(getattr(row, f"{c}_usd_micros")) for c in COMPONENTS], cents)
        tenants.append(
            TenantCharge(
                tenant=str(row.tenant),
                requests=int(row.requests),
                prompt_tokens=int(row.prompt_tokens),
                generation_tokens=int(row.generation_tokens),
                kv_token_seconds=float(row.kv_token_seconds),
                memory_gib_hours=float(row.kv_byte_seconds) / GIB / 3600,
                kv_in_use_cents=parts[0],
                static_cents=parts[1],
                idle_cents=parts[2],
                unmeasured_cents=parts[3],
                total_cents=cents,
                total_usd_micros=int(row.total_usd_micros),
                estimated=bool(row.estimated),
            )
        )
    return Chargeback(
        start=start,
        end=end,
        currency=currency,
        tenants=tenants,
        total_cents=sum(tenant_cents),
        total_usd_micros=sum(totals),
        cluster_cost_usd_micros=cluster_micros,
        intervals_attributed=attributed,
        intervals_in_window=int((end - start).total_seconds()) // interval_seconds,
        coverage_intervals=queries.coverage_counts(session, start, end),
    )


def cents_of(usd_micros: int) -> float:
    """For display only (never summed): micro-USD as a float count of cents."""
    return usd_micros / MICROS_PER_CENT
