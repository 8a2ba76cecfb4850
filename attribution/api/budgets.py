"""``GET /v1/budgets``: each budget's month: spend, projection to month end, thresholds crossed, alerts.

Cluster-wide figures: the ``finance`` scope (and ``admin``). Money is integer micro-USD; ratios are for
display. Spend is the period's statement lines as ``/v1/chargeback?period=`` serves them (docs/budgets.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from attribution.api.auth import FinanceDep
from attribution.api.deps import SessionDep, SettingsDep
from attribution.api.params import resolve_period
from attribution.budgets.status import budget_statuses
from attribution.ledger.close import period_of
from attribution.store.budgets import alerts_of
from attribution.timeutil import iso

router = APIRouter(tags=["budgets"])


class CrossingOut(BaseModel):
    kind: str = Field(description="actual (spend so far) or projected (month-end projection)")
    threshold_percent: int
    delivery_id: str = Field(description="the same for the same crossing on every check")
    alert_status: str | None = Field(
        description="pending, delivered, failed or unsent (no webhook); None: not fired yet"
    )
    fired_at: str | None


class BudgetOut(BaseModel):
    budget: str = Field(description="tenant:<name> or cluster; then @<cluster> for one cluster's budget")
    tenant: str | None
    cluster: str | None = Field(None, description="the one cluster whose lines it counts; null: every one")
    budget_usd_micros: int
    thresholds: list[int]
    spent_usd_micros: int
    spent_cents: int
    spent_ratio: float
    projected_usd_micros: int | None = Field(description="None before anything of the month is attributed")
    projected_ratio: float | None
    attributed_seconds: int
    period_seconds: int
    crossed: list[CrossingOut]


class BudgetsOut(BaseModel):
    period: str
    period_status: str = Field(description="open or closed")
    budgets: list[BudgetOut]


PeriodParam = Annotated[str | None, Query(max_length=7, description="YYYY-MM; default the current month")]


@router.get("/v1/budgets", response_model=BudgetsOut)
def list_budgets(
    _: FinanceDep, session: SessionDep, settings: SettingsDep, period: PeriodParam = None
) -> BudgetsOut:
    """Every configured budget in the period, with the alerts its crossings fired."""
    name = resolve_period(period) if period is not None else period_of(datetime.now(UTC))
    statuses = budget_statuses(session, settings, name)
    fired = {a.delivery_id: a for a in alerts_of(session, name)}
    out = []
    for s in statuses:
        crossed = []
        for c in s.crossed:
            alert = fired.get(c.delivery_id)
            crossed.append(
                CrossingOut(
                    kind=c.kind.value,
                    threshold_percent=c.threshold_percent,
                    delivery_id=c.delivery_id,
                    alert_status=alert.status if alert else None,
                    fired_at=iso(alert.fired_at) if alert else None,
                )
            )
        out.append(
            BudgetOut(
                budget=s.budget,
                tenant=s.tenant,
                cluster=s.cluster,
                budget_usd_micros=s.budget_usd_micros,
                thresholds=s.thresholds,
                spent_usd_micros=s.spent_usd_micros,
                spent_cents=s.spent_cents,
                spent_ratio=s.spent_ratio,
                projected_usd_micros=s.projected_usd_micros,
                projected_ratio=s.projected_ratio,
                attributed_seconds=s.attributed_seconds,
                period_seconds=s.period_seconds,
                crossed=crossed,
            )
        )
    period_status = statuses[0].period_status if statuses else "open"
    return BudgetsOut(period=name, period_status=period_status, budgets=out)
