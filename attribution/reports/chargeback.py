"""The chargeback: per tenant, usage and cost by component over a window, in cents that reconcile.

Cents are rounded once, at the line item (pool x tenant x tier), over every line of the window, by
largest remainder (as a statement does, see :mod:`attribution.reports.lineset`); every grouping sums
those cents and filters apply last. So the CLI's chargeback, the API's and the statement give a tenant
the same cents, a filter or a tenant key never changes an amount, and a group's cents are the sum of its
line items' cents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from attribution.errors import NotFoundError
from attribution.model.money import MICROS_PER_CENT
from attribution.reports.lineitems import GIB, LineItem, window_lines
from attribution.reports.lineset import read_line_set, round_items
from attribution.reports.statement_views import tier_sort_key
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.store.collection_state import coverage_counts
from attribution.store.coverage import never_collected
from attribution.store.lines import has_lines
from attribution.store.pools import pool_exists
from attribution.timeutil import iso


@dataclass(frozen=True, slots=True)
class Chargeback:
    start: datetime
    end: datetime
    currency: str
    tenants: list[GroupCharge]
    """One per tenant (:attr:`Grouping.TENANT`: ``tier`` and ``pool`` are None)."""
    total_cents: int
    total_usd_micros: int
    cluster_cost_usd_micros: int
    intervals_attributed: int
    intervals_in_window: int
    coverage_intervals: dict[str, int]
    status: str = "provisional"
    """``closed`` (the issued statement), ``open`` (the period's provisional statement) or ``provisional``
    (a raw window)."""
    content_hash: str | None = None
    """A closed period's statement hash: the amounts are the issued ones, whatever was restated since."""

    not_collected: int = 0
    """Intervals that expected sources never collected (:func:`never_collected`): not complete either."""

    @property
    def complete(self) -> bool:
        return self.intervals_attributed == self.intervals_in_window and self.not_collected == 0

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["start"], body["end"] = iso(self.start), iso(self.end)
        # per tenant: the group's tier and pool are always None, and the JSON has never carried them
        body["tenants"] = [{k: v for k, v in t.items() if k not in ("tier", "pool")} for t in body["tenants"]]
        body["complete"] = self.complete
        return body


def build_chargeback(
    session: Session,
    start: datetime,
    end: datetime,
    interval_seconds: int,
    currency: str = "USD",
    period: str | None = None,
) -> Chargeback:
    """Per tenant over ``[start, end)``: the window's lines rounded once as a statement rounds them, then
    summed per tenant, so the CLI, the API and the statement give every tenant the same cents. With
    ``period`` (``[start, end)`` is then its window), the period's statement lines as ``/v1/chargeback``
    serves them: a closed period's issued amounts, an open one's usage plus the corrections billed in it."""

    if period is not None:
        found = read_line_set(session, start, end, period)
        items, status, content_hash = found.lines, found.status, found.content_hash
    else:
        items, status, content_hash = round_items(window_lines(session, start, end)), "provisional", None
    tenants = group_lines(items, Grouping.TENANT)
    cluster_micros, attributed = cluster_cost_usd_micros(session, start, end)
    return Chargeback(
        start=start,
        end=end,
        currency=currency,
        tenants=tenants,
        total_cents=sum(t.total_cents for t in tenants),
        total_usd_micros=sum(t.total_usd_micros for t in tenants),
        cluster_cost_usd_micros=cluster_micros,
        intervals_attributed=attributed,
        intervals_in_window=int((end - start).total_seconds()) // interval_seconds,
        coverage_intervals=coverage_counts(session, start, end),
        not_collected=never_collected(session, start, end, interval_seconds),
        status=status,
        content_hash=content_hash,
    )


def cents_of(usd_micros: int) -> float:
    """For display only (never summed): micro-USD as a float count of cents."""
    return usd_micros / MICROS_PER_CENT


# --- line items and grouped chargeback (the API's read path) ------------------------------------------


class Grouping(StrEnum):
    TENANT = "tenant"
    TENANT_TIER = "tenant_tier"
    TENANT_POOL = "tenant_pool"


@dataclass(frozen=True, slots=True)
class LineFilter:
    """Filters on line items; ``None`` keeps every value. A tenant key's own tenant is forced in here."""

    tenant: str | None = None
    pool: str | None = None
    tier: str | None = None

    def keep(self, line: LineItem) -> bool:
        return (
            (self.tenant is None or line.tenant == self.tenant)
            and (self.pool is None or line.pool == self.pool)
            and (self.tier is None or line.tier == self.tier)
        )


@dataclass(frozen=True, slots=True)
class GroupCharge:
    """A group's chargeback in micro-USD and in cents: the sum of its line items' cents."""

    tenant: str
    tier: str | None
    pool: str | None
    requests: int
    prompt_tokens: int
    generation_tokens: int
    kv_token_seconds: float
    memory_gib_hours: float
    kv_in_use_cents: int
    static_cents: int
    idle_cents: int
    idle_cold_cents: int
    idle_warm_cents: int
    kv_headroom_cents: int
    """The kinds of idle in cents: each line's idle cents split by kind (largest remainder), summed."""
    unmeasured_cents: int
    recovery_cents: int
    total_cents: int
    total_usd_micros: int
    estimated: bool


def _group_key(line: LineItem, grouping: Grouping) -> tuple[str, str | None, str | None]:
    if grouping is Grouping.TENANT_TIER:
        return (line.tenant, line.tier, None)
    if grouping is Grouping.TENANT_POOL:
        return (line.tenant, None, line.pool)
    return (line.tenant, None, None)


def group_lines(lines: list[LineItem], grouping: Grouping) -> list[GroupCharge]:
    """Sums lines per group: micro-USD exactly, and the cents the lines already carry (rounded once over
    the whole window), so a group's cents are the sum of its line items' cents whatever else is asked."""
    sums: dict[tuple[str, str | None, str | None], list[LineItem]] = {}
    for line in lines:
        sums.setdefault(_group_key(line, grouping), []).append(line)
    keys = sorted(sums, key=lambda k: (k[0], tier_sort_key(k[1]), k[2] or ""))
    out = []
    for key in keys:
        members = sums[key]
        cents = [x.component_cents() for x in members]
        parts = [sum(column) for column in zip(*cents, strict=True)]
        by_kind = [x.idle_part_cents(c[2]) for x, c in zip(members, cents, strict=True)]
        kinds = [sum(column) for column in zip(*by_kind, strict=True)]
        out.append(
            GroupCharge(
                *key,
                requests=sum(x.requests for x in members),
                prompt_tokens=sum(x.prompt_tokens for x in members),
                generation_tokens=sum(x.generation_tokens for x in members),
                kv_token_seconds=sum(x.kv_token_seconds for x in members),
                memory_gib_hours=sum(x.kv_byte_seconds for x in members) / GIB / 3600,
                kv_in_use_cents=parts[0],
                static_cents=parts[1],
                idle_cents=parts[2],
                idle_cold_cents=kinds[0],
                idle_warm_cents=kinds[1],
                kv_headroom_cents=kinds[2],
                unmeasured_cents=parts[3],
                recovery_cents=parts[4],
                total_cents=sum(x.total_cents for x in members),
                total_usd_micros=sum(x.total_usd_micros for x in members),
                estimated=any(x.estimated for x in members),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class GroupedChargeback:
    start: datetime
    end: datetime
    currency: str
    group_by: Grouping
    groups: list[GroupCharge]
    total_cents: int
    total_usd_micros: int
    cluster_cost_usd_micros: int
    intervals_attributed: int
    intervals_in_window: int
    coverage_intervals: dict[str, int]
    status: str = "provisional"
    """``closed`` (the issued statement), ``open`` (the period's provisional statement) or ``provisional``
    (a raw window)."""
    content_hash: str | None = None
    """A closed period's statement hash: the amounts are the issued ones, whatever was restated since."""

    not_collected: int = 0
    """Intervals that expected sources never collected (:func:`never_collected`): not complete either."""

    @property
    def complete(self) -> bool:
        return self.intervals_attributed == self.intervals_in_window and self.not_collected == 0


def grouped_chargeback(
    session: Session,
    lines: list[LineItem],
    window: tuple[datetime, datetime],
    grouping: Grouping,
    keep: LineFilter,
    interval_seconds: int,
    currency: str = "USD",
) -> GroupedChargeback:
    """The chargeback of the window's ``lines`` that pass ``keep``, grouped; sums to the cent."""
    start, end = window
    groups = group_lines([x for x in lines if keep.keep(x)], grouping)
    cluster_micros, attributed = cluster_cost_usd_micros(session, start, end)
    return GroupedChargeback(
        start=start,
        end=end,
        currency=currency,
        group_by=grouping,
        groups=groups,
        total_cents=sum(g.total_cents for g in groups),
        total_usd_micros=sum(g.total_usd_micros for g in groups),
        cluster_cost_usd_micros=cluster_micros,
        intervals_attributed=attributed,
        intervals_in_window=int((end - start).total_seconds()) // interval_seconds,
        coverage_intervals=coverage_counts(session, start, end),
        not_collected=never_collected(session, start, end, interval_seconds),
    )


def check_filter(session: Session, keep: LineFilter, pools: list[str], tenant_key: bool = False) -> None:
    """A filter naming a tenant or pool that never had a line (nor, for a pool, is configured) is a 404,
    not an empty answer that would look like a tenant without cost.

    For a tenant key (``tenant_key``) a pool exists only if its own tenant has lines in it: a pool it may
    not see and a pool that does not exist get the same 404, so the key cannot probe the cluster's pools.
    """
    if keep.tenant is not None and not has_lines(session, keep.tenant):
        raise NotFoundError(f"no tenant named {keep.tenant!r}")
    if tenant_key and keep.pool is not None:
        if keep.tenant is None or not has_lines(session, keep.tenant, keep.pool):
            raise NotFoundError(f"no pool named {keep.pool!r}")
        return
    if keep.pool is not None and keep.pool not in pools and not pool_exists(session, keep.pool):
        raise NotFoundError(f"no pool named {keep.pool!r}")
