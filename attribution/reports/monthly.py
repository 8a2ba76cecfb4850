"""The monthly chargeback statement as data: every view finance reads, for the cluster or one tenant.

A closed period's statement is built from its frozen statement lines and carries their content hash; an
open period's from the stored interval lines (``attributed_costs``), marked provisional. Either way the
views are roll-ups of the statement's rounded lines (:mod:`attribution.reports.statement_views`), so
each sums to the statement total, to the cent, and the summary reconciles that total to the cluster's
bill for the period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.errors import NotFoundError
from attribution.model.statement import COMPONENTS, CORRECTION, USAGE, Line
from attribution.model.vocabulary import IDLE_KINDS
from attribution.reports.period_statement import build_statement
from attribution.reports.series import Series, build_series
from attribution.reports.statement_currency import Billed, billed_of
from attribution.reports.statement_views import (
    DayAmounts,
    Row,
    cents_half_even,
    daily_rows,
    roll_up,
    tier_sort_key,
    total_of,
)
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.store.collection_state import coverage_counts, source_coverage
from attribution.store.coverage import never_collected
from attribution.store.inputs import engine_activity
from attribution.store.lines import estimated_and_unmeasured, interval_sums, pools_of_tenant
from attribution.timeutil import iso, period_window


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the period was measured, and how much of its cost rests on estimates."""

    intervals_in_period: int
    intervals_attributed: int
    intervals_with_data: dict[str, int]
    source_status: list[tuple[str, str, str, int]]
    estimated_usd_micros: int
    unmeasured_usd_micros: int
    not_collected: int = 0
    """Intervals that expected sources never collected: the period-close check refuses those too."""

    @property
    def complete(self) -> bool:
        return self.intervals_attributed == self.intervals_in_period and self.not_collected == 0


@dataclass(frozen=True, slots=True)
class StatementReport:
    period: str
    start: datetime
    end: datetime
    status: str
    content_hash: str | None
    closed_at: datetime | None
    tenant: str | None
    currency: str
    tier_names: list[str]
    tier_boundaries_tokens: list[int]
    lines: list[Line]
    cluster_total_cents: int
    cluster_cost_usd_micros: int
    total: Row
    usage: Row
    corrections: Row
    tenants: list[Row]
    tenant_tiers: list[Row]
    pools: list[Row]
    daily: list[Row]
    correction_rows: list[Row]
    coverage: Coverage
    series: Series
    billed: Billed | None = None
    """The statement in its billing currency when that is not the pricing one (per tenant and total)."""
    cluster_tenants: list[Row] = field(default_factory=list)
    """Per cluster and tenant, when the deployment has several clusters (empty with one: a one-cluster
    statement reads, and hashes, as it always did). Then ``pools`` and ``correction_rows`` carry the
    cluster too, first after the charge period: a pool's name is its cluster's, not the deployment's."""

    @property
    def by_cluster(self) -> bool:
        return bool(self.cluster_tenants)

    @property
    def pool_keys(self) -> list[str]:
        """The key columns of :attr:`pools`."""
        return ["cluster", "pool"] if self.by_cluster else ["pool"]

    @property
    def correction_keys(self) -> list[str]:
        """The key columns of :attr:`correction_rows`."""
        cluster = ["cluster"] if self.by_cluster else []
        return ["charge period", *cluster, "tenant", "pool", "tier"]

    @property
    def provisional(self) -> bool:
        return self.status != "closed"

    @property
    def source(self) -> str:
        return "statement_lines" if self.status == "closed" else "attributed_costs"

    @property
    def cluster_cost_cents(self) -> int:
        return cents_half_even(self.cluster_cost_usd_micros)

    @property
    def scope(self) -> str:
        return self.tenant if self.tenant is not None else "whole cluster"

    def to_dict(self) -> dict[str, Any]:
        def rows(items: list[Row]) -> list[dict[str, Any]]:
            return [row_dict(r) for r in items]

        return {
            "period": self.period,
            "start": iso(self.start),
            "end": iso(self.end),
            "status": self.status,
            "provisional": self.provisional,
            "source": self.source,
            "content_hash": self.content_hash,
            "closed_at": iso(self.closed_at) if self.closed_at else None,
            "tenant": self.tenant,
            "currency": self.currency,
            "cluster_total_cents": self.cluster_total_cents,
            "cluster_cost_usd_micros": self.cluster_cost_usd_micros,
            "cluster_cost_cents": self.cluster_cost_cents,
            "total": row_dict(self.total),
            "usage": row_dict(self.usage),
            "corrections": row_dict(self.corrections),
            "tenants": rows(self.tenants),
            "tenant_tiers": rows(self.tenant_tiers),
            "pools": rows(self.pools),
            "daily": rows(self.daily),
            "correction_rows": rows(self.correction_rows),
            **({"cluster_tenants": rows(self.cluster_tenants)} if self.by_cluster else {}),
            "coverage": {
                "intervals_in_period": self.coverage.intervals_in_period,
                "intervals_attributed": self.coverage.intervals_attributed,
                "complete": self.coverage.complete,
                "intervals_with_data": self.coverage.intervals_with_data,
                "estimated_usd_micros": self.coverage.estimated_usd_micros,
                "unmeasured_usd_micros": self.coverage.unmeasured_usd_micros,
            },
        }


def bill_label(r: StatementReport) -> str:
    """Only a fully attributed period has a bill; before that its cluster cost is a figure so far."""
    if r.coverage.complete:
        return "cluster cost for the period (the bill)"
    c = r.coverage
    done = f"{c.intervals_attributed:,} of {c.intervals_in_period:,} intervals"
    return f"cluster cost so far ({done}; not yet the bill)"


def row_dict(row: Row) -> dict[str, Any]:
    return {
        "key": list(row.key),
        "requests": row.requests,
        "prompt_tokens": row.prompt_tokens,
        "generation_tokens": row.generation_tokens,
        "memory_gib_hours": round(row.memory_gib_hours, 6),
        **{f"{c}_cents": v for c, v in zip(COMPONENTS, row.component_cents, strict=True)},
        **(
            {f"{k}_cents": v for k, v in zip(IDLE_KINDS, row.idle_kind_cents, strict=True)}
            if row.kinds_known
            else {}
        ),
        "total_cents": row.total_cents,
        "total_usd_micros": row.total_usd_micros,
    }


def build_statement_report(
    session: Session, settings: Settings, period: str, tenant: str | None = None
) -> StatementReport:
    """Every view of ``period``'s statement, for the whole cluster or (``tenant``) one tenant.

    A tenant's statement shows only that tenant's lines, with the amounts the whole statement gave them
    (filtering never changes a line), beside the cluster's total for context.
    """
    start, end = period_window(period)
    statement = build_statement(session, period)
    lines = [x for x in statement.lines if tenant is None or x.tenant == tenant]
    if tenant is not None and not lines:
        raise NotFoundError(f"tenant {tenant!r} has no lines in the statement of {period}")
    usage_lines = [x for x in lines if x.charge_class == USAGE]
    correction_lines = [x for x in lines if x.charge_class == CORRECTION]
    usage = total_of(roll_up(usage_lines, lambda _: ("usage",)), ("usage",))
    cluster_cost, attributed = cluster_cost_usd_micros(session, start, end)
    split = len(settings.cluster_names()) > 1
    clustered: Callable[[Line], tuple[str, ...]] = (lambda x: (x.cluster,)) if split else (lambda _: ())
    return StatementReport(
        period=period,
        start=start,
        end=end,
        status=statement.status,
        content_hash=statement.content_hash,
        closed_at=statement.closed_at,
        tenant=tenant,
        currency=settings.currency,
        tier_names=settings.tiers.names,
        tier_boundaries_tokens=list(settings.tiers.boundaries_tokens),
        lines=lines,
        cluster_total_cents=statement.total_cents,
        cluster_cost_usd_micros=cluster_cost,
        total=total_of(roll_up(lines, lambda _: ("total",))),
        usage=usage,
        corrections=total_of(roll_up(correction_lines, lambda _: ("corrections",)), ("corrections",)),
        tenants=roll_up(lines, lambda x: (x.tenant,)),
        tenant_tiers=sorted(
            roll_up(lines, lambda x: (x.tenant, x.tier)), key=lambda r: (r.key[0], tier_sort_key(r.key[1]))
        ),
        pools=roll_up(lines, lambda x: (*clustered(x), x.pool)),
        daily=_daily(session, start, end, tenant, usage, correction_lines),
        correction_rows=roll_up(
            correction_lines, lambda x: (x.charge_period, *clustered(x), x.tenant, x.pool, x.tier)
        ),
        coverage=_coverage(session, settings, start, end, tenant, attributed),
        series=build_series(session, start, end, tenant, settings.tiers.names),
        billed=billed_of(
            session,
            statement,
            settings.currency,
            settings.billing_currency_for(tenant),
            settings.rates(),
            tenant,
        ),
        cluster_tenants=roll_up(lines, lambda x: (x.cluster, x.tenant)) if split else [],
    )


def _daily(
    session: Session, start: datetime, end: datetime, tenant: str | None, usage: Row, corrections: list[Line]
) -> list[Row]:
    rows = daily_rows(_day_amounts(session, start, end, tenant), usage)
    if corrections:
        rows.append(total_of(roll_up(corrections, lambda _: ("",)), ("corrections billed in this period",)))
    return rows


def _day_amounts(session: Session, start: datetime, end: datetime, tenant: str | None) -> list[DayAmounts]:
    """Per UTC day from the interval lines; grouped by interval in SQL, by day here (dialect-neutral)."""
    n = len(COMPONENTS)  # the money components, then requests, prompt and generation tokens, byte-seconds
    days: dict[str, list[float]] = defaultdict(lambda: [0] * (n + 4))
    for row in interval_sums(session, start, end, tenant):
        cell = days[row[0].date().isoformat()]
        for i, value in enumerate(row[1:]):
            cell[i] += value or 0
    return [
        DayAmounts(
            day,
            tuple(int(x) for x in v[:n]),
            int(v[n]),
            int(v[n + 1]),
            int(v[n + 2]),
            float(v[n + 3]),
        )
        for day, v in sorted(days.items())
    ]


def _gateway_gaps(
    session: Session, start: datetime, end: datetime, tenant: str | None = None
) -> list[tuple[str, str, str, int]]:
    """Per pool, the intervals its engines worked without the gateway's usage (telemetry gaps, billed to
    ``__unmeasured__``), as ``("gateway", "pool <name>", "missing", n)`` beside the sources' rows. For a
    tenant's statement, only the pools it has lines in: a tenant may not learn the other pools' names."""
    mine = None if tenant is None else pools_of_tenant(session, tenant, start, end)
    missing: dict[str, int] = {}
    for r in engine_activity(session, start, end):
        if not r.has_usage and (mine is None or str(r.pool) in mine):
            missing[str(r.pool)] = missing.get(str(r.pool), 0) + 1
    return [("gateway", f"pool {pool}", "missing", n) for pool, n in sorted(missing.items())]


def _coverage(
    session: Session, settings: Settings, start: datetime, end: datetime, tenant: str | None, attributed: int
) -> Coverage:
    estimated, unmeasured = estimated_and_unmeasured(session, start, end, tenant)
    return Coverage(
        intervals_in_period=int((end - start).total_seconds()) // settings.interval_seconds,
        intervals_attributed=attributed,
        intervals_with_data=coverage_counts(session, start, end),
        source_status=[
            (str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in source_coverage(session, start, end)
        ]
        + _gateway_gaps(session, start, end, tenant),
        estimated_usd_micros=estimated,
        unmeasured_usd_micros=unmeasured,
        not_collected=never_collected(session, start, end, settings.interval_seconds),
    )
