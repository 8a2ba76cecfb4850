"""Each budget's month: spend so far, its projection to month end, and the thresholds crossed.

Spend is read from the period's statement lines exactly as ``/v1/chargeback?period=`` serves them
(:func:`~attribution.reports.lineset.read_line_set`: an open month's usage plus the corrections billed in
it; a closed month's issued lines), so a budget and the chargeback never disagree by a micro-dollar. The
projection is :func:`attribution.model.budget.project_month_end` over the seconds attribution has
covered (the cluster's attributed intervals in the month).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from attribution.config import BudgetConfig, Settings
from attribution.model.budget import Crossing, crossings, project_month_end, ratio
from attribution.model.statement import CORRECTION
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import CLOSED, read_line_set
from attribution.store.cluster import cluster_cost_usd_micros
from attribution.timeutil import parse_period, period_window


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget in one period. ``projected_usd_micros`` is None before anything of the month is
    attributed; for a closed month it is the spend (the month is over)."""

    budget: str
    tenant: str | None
    period: str
    period_status: str
    budget_usd_micros: int
    thresholds: list[int]
    spent_usd_micros: int
    spent_cents: int
    projected_usd_micros: int | None
    attributed_seconds: int
    period_seconds: int
    crossed: list[Crossing]
    cluster: str | None = None
    """The one cluster whose lines the budget counts; None: every cluster's."""

    @property
    def spent_ratio(self) -> float:
        return float(ratio(self.spent_usd_micros, self.budget_usd_micros) or 0.0)

    @property
    def projected_ratio(self) -> float | None:
        return ratio(self.projected_usd_micros, self.budget_usd_micros)


def budget_statuses(
    session: Session, settings: Settings, period: str, budgets: list[BudgetConfig] | None = None
) -> list[BudgetStatus]:
    """Every configured budget (or ``budgets``) in ``period``, in configuration order."""
    period = parse_period(period)
    budgets = settings.budgets if budgets is None else budgets
    if not budgets:
        return []
    start, end = period_window(period)
    found = read_line_set(session, start, end, period)
    period_seconds = int((end - start).total_seconds())
    attributed: dict[str | None, int] = {}  # per cluster counted: a cluster's budget projects over its own
    for b in budgets:
        if b.cluster not in attributed:
            _, intervals = cluster_cost_usd_micros(session, start, end, b.cluster)
            attributed[b.cluster] = intervals * settings.interval_seconds
    return [
        _status(b, period, found.status, found.lines, attributed[b.cluster], period_seconds) for b in budgets
    ]


def _status(
    budget: BudgetConfig,
    period: str,
    period_status: str,
    lines: list[LineItem],
    attributed_seconds: int,
    period_seconds: int,
) -> BudgetStatus:
    mine = [
        x
        for x in lines
        if (budget.tenant is None or x.tenant == budget.tenant)
        and (budget.cluster is None or x.cluster == budget.cluster)
    ]
    spent = sum(x.total_usd_micros for x in mine)
    corrections = sum(x.total_usd_micros for x in mine if x.charge_class == CORRECTION)
    if period_status == CLOSED:
        projected: int | None = spent
    else:
        projected = project_month_end(spent - corrections, corrections, attributed_seconds, period_seconds)
    limit = budget.monthly_usd_micros
    return BudgetStatus(
        budget=budget.name,
        tenant=budget.tenant,
        period=period,
        period_status=period_status,
        budget_usd_micros=limit,
        thresholds=list(budget.thresholds),
        spent_usd_micros=spent,
        spent_cents=sum(x.total_cents for x in mine),
        projected_usd_micros=projected,
        attributed_seconds=min(attributed_seconds, period_seconds),
        period_seconds=period_seconds,
        crossed=crossings(budget.name, period, limit, list(budget.thresholds), spent, projected),
        cluster=budget.cluster,
    )
