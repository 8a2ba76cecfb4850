"""Line items: one pool x tenant x tier over a window, summed from the stored lines. The unit every
chargeback, page, grouping and export of a window is built from (:mod:`attribution.reports.lineset`
rounds them once; :mod:`attribution.reports.chargeback` groups them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from attribution.model.money import micros_to_cents
from attribution.model.statement import IDLE_PART_FIELDS
from attribution.reports.statement_views import apportion_cents
from attribution.store.lines import line_item_sums

GIB = 1024**3
COMPONENTS = ("kv_in_use", "static", "idle", "unmeasured", "recovery")


@dataclass(frozen=True, slots=True)
class LineItem:
    """One pool x tenant x tier (x charge class and period) over a window: usage, cost by component in
    exact micro-USD, and its cents as rounded once over every line of the window (as a statement rounds),
    so the same line has the same cents through any filter, page, grouping or key."""

    tenant: str
    pool: str
    tier: str
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    kv_byte_seconds: float
    kv_in_use_usd_micros: int
    static_usd_micros: int
    idle_usd_micros: int
    unmeasured_usd_micros: int
    total_usd_micros: int
    estimated: bool
    charge_class: str = "usage"
    charge_period: str | None = None
    total_cents: int = 0
    line_id: str = ""
    idle_cold_usd_micros: int = 0
    idle_warm_usd_micros: int = 0
    kv_headroom_usd_micros: int = 0
    """The three kinds of idle (docs/insights.md); they sum to ``idle_usd_micros`` exactly."""
    recovery_usd_micros: int = 0
    """The cost of recovery incidents (docs/insights.md, "Recovery incidents"), part of the total."""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.tenant, self.pool, self.tier, self.charge_class, self.charge_period or "")

    @property
    def memory_gib_hours(self) -> float:
        return self.kv_byte_seconds / GIB / 3600

    def component_cents(self) -> list[int]:
        """The line's components in cents, summing to its cents (reachable: its cents are its total
        rounded down or up, and the components' floors sum to within five cents below that)."""
        return micros_to_cents([getattr(self, f"{c}_usd_micros") for c in COMPONENTS], self.total_cents)

    def idle_part_cents(self, idle_cents: int) -> list[int]:
        """The kinds of idle in cents, summing to the line's idle cents (one of ``component_cents``)."""
        return apportion_cents([getattr(self, f) for f in IDLE_PART_FIELDS], idle_cents)


def window_lines(session: Session, start: datetime, end: datetime) -> list[LineItem]:
    """Every pool x tenant x tier of ``[start, end)``, summed from the stored lines (any storage grain),
    ordered by (tenant, pool, tier): the order cursors page in."""
    rows = line_item_sums(session, start, end, _SUMMED)
    return [_line(r) for r in rows]


def _line(r: Any) -> LineItem:
    """A row of (tenant, pool, tier, *_SUMMED, estimated) as a line item."""
    return LineItem(
        tenant=str(r[0]),
        pool=str(r[1]),
        tier=str(r[2]),
        requests=int(r[3]),
        prompt_tokens=int(r[4]),
        generation_tokens=int(r[5]),
        kv_token_seconds=float(r[6]),
        kv_byte_seconds=float(r[7]),
        kv_in_use_usd_micros=int(r[8]),
        static_usd_micros=int(r[9]),
        idle_usd_micros=int(r[10]),
        unmeasured_usd_micros=int(r[11]),
        total_usd_micros=int(r[12]),
        idle_cold_usd_micros=int(r[13]),
        idle_warm_usd_micros=int(r[14]),
        kv_headroom_usd_micros=int(r[15]),
        recovery_usd_micros=int(r[16]),
        estimated=bool(r[17]),
    )


_SUMMED = (
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "kv_token_seconds",
    "kv_byte_seconds",
    "kv_in_use_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "unmeasured_usd_micros",
    "total_usd_micros",
    *IDLE_PART_FIELDS,
    "recovery_usd_micros",
)
