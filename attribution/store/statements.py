"""Queries behind statements: the billing periods, a closed period's frozen lines, and an open period's
own lines and the corrections billed in it, in micro-USD."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attribution.model.statement import COMPONENTS, CORRECTION, IDLE_PART_FIELDS, USAGE, USAGE_FIELDS
from attribution.store.aggregates import key_sum
from attribution.store.daysums import span, total
from attribution.store.tables import CorrectionLine, Period, StatementLine, StatementRate
from attribution.timeutil import period_window


def _aggregate(rows: Sequence[Any], charge_class: str, charge_period: str | None) -> list[dict[str, Any]]:
    return [
        {
            "charge_class": charge_class,
            "charge_period": charge_period or str(r.charge_period),
            "pool": str(r.pool),
            "tenant": str(r.tenant),
            "tier": str(r.tier),
            "cluster": str(r.cluster),
            **{f"{c}_usd_micros": int(getattr(r, f"{c}_usd_micros")) for c in COMPONENTS},
            **{f: int(getattr(r, f)) for f in IDLE_PART_FIELDS},
            "total_usd_micros": int(r.total_usd_micros),
            "kv_token_seconds": float(r.kv_token_seconds),
            "kv_byte_seconds": float(r.kv_byte_seconds),
            **{f: int(getattr(r, f)) for f in ("requests", "prompt_tokens", "generation_tokens")},
        }
        for r in rows
    ]


def _sums(model: type[CorrectionLine]) -> list[Any]:
    fields = [*(f"{c}_usd_micros" for c in COMPONENTS), *IDLE_PART_FIELDS]
    money = [func.sum(getattr(model, f)).label(f) for f in fields]
    usage = [key_sum(getattr(model, f)).label(f) for f in USAGE_FIELDS]  # floats in key order
    return [*money, func.sum(model.total_usd_micros).label("total_usd_micros"), *usage]


def usage_lines(session: Session, period: str) -> list[dict[str, Any]]:
    """The period's own cost per pool x tenant x tier x cluster, in micro-USD, from the stored interval
    lines (whole days from their rollups, :mod:`attribution.store.daysums`)."""
    start, end = period_window(period)
    s = span(start, end)
    fields = [*(f"{c}_usd_micros" for c in COMPONENTS), *IDLE_PART_FIELDS, "total_usd_micros", *USAGE_FIELDS]
    rows = session.execute(
        select(s.c.pool, s.c.tenant, s.c.tier, s.c.cluster, *(total(s, f).label(f) for f in fields)).group_by(
            s.c.pool, s.c.tenant, s.c.tier, s.c.cluster
        )
    ).all()
    return _aggregate(rows, USAGE, period)


def correction_lines(session: Session, billing_period: str) -> list[dict[str, Any]]:
    c = CorrectionLine
    keys = (c.charge_period, c.pool, c.tenant, c.tier, c.cluster)
    rows = session.execute(
        select(*keys, *_sums(CorrectionLine))
        .where(CorrectionLine.billing_period == billing_period)
        .group_by(*keys)
    ).all()
    return [line for line in _aggregate(rows, CORRECTION, None) if _nonzero(line)]


def _nonzero(line: dict[str, Any]) -> bool:
    return any(line[f"{c}_usd_micros"] for c in COMPONENTS) or any(line[f] for f in USAGE_FIELDS)


def all_periods(session: Session) -> Sequence[Period]:
    """Every period the service has seen, oldest first: ``GET /v1/periods`` and ``attribution periods``."""
    return session.scalars(select(Period).order_by(Period.period)).all()


def frozen_lines(session: Session, period: str) -> Sequence[StatementLine]:
    """A closed period's statement lines as they were issued (unordered)."""
    return session.scalars(select(StatementLine).where(StatementLine.period == period)).all()


def frozen_rates(session: Session, period: str) -> dict[str, tuple[Decimal, datetime]]:
    """The exchange rates recorded when ``period`` closed, by billing currency: (rate, effective_from)."""
    rows = session.scalars(select(StatementRate).where(StatementRate.period == period)).all()
    return {r.currency: (Decimal(r.rate), r.effective_from) for r in rows}
