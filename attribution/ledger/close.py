"""Periods: open until closed; closing freezes the statement; later changes become correction lines.

Closing writes the statement's lines and a content hash once. From then on nothing about the closed
period is edited: when its inputs change (late telemetry, a backfill, a re-attribution), the difference
between what its intervals now attribute and what was billed (statement plus earlier corrections) is
written as correction lines billed in the next open period, with the closed one as their charge period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attribution.errors import ConflictError, PeriodIncompleteError
from attribution.model.currency import Rate, rate_at
from attribution.model.statement import (
    COMPONENTS,
    IDLE_PART_FIELDS,
    USAGE,
    USAGE_FIELDS,
    content_hash,
    rounded_lines,
)
from attribution.store.collection_state import PERIOD_FALLBACK, pending_marks
from attribution.store.coverage import CoverageReport, coverage_report
from attribution.store.deliveries import enqueue_statement
from attribution.store.statements import correction_lines, usage_lines
from attribution.store.tables import CorrectionLine, Period, StatementLine, StatementRate
from attribution.store.writes import insert_all
from attribution.timeutil import parse_period, period_window

OPEN, CLOSED = "open", "closed"


def period_of(t: datetime) -> str:
    return f"{t.year:04d}-{t.month:02d}"


def next_period(period: str) -> str:
    _, end = period_window(period)
    return period_of(end)


def periods_between(start: datetime, end: datetime) -> list[str]:
    """Every period that ``[start, end)`` touches, in order."""
    periods = [period_of(start)]
    while period_window(periods[-1])[1] < end:
        periods.append(next_period(periods[-1]))
    return periods


def ensure_period(session: Session, period: str) -> Period:
    """The period's row, locked until the transaction ends (FOR UPDATE; created open if missing).

    The lock orders what reads a period's lines and billed amounts against what changes them: a close,
    and the corrections of every cluster's attribution run (``issue_corrections`` reads the current
    lines and the billed ones in two statements; unlocked, another cluster's run committing between
    them would be corrected in reverse). tests/ledger/test_concurrent_attribution.py shows the wait."""
    period = parse_period(period)  # one name per month: the row is keyed by the canonical name
    period_window(period)
    row = session.get(Period, period, with_for_update=True)
    if row is None:
        row = Period(period=period, status=OPEN)
        session.add(row)
        session.flush()
    return row


def close_period(
    session: Session,
    period: str,
    interval_seconds: int,
    idempotency_key: str | None = None,
    rates: Sequence[Rate] = (),
) -> tuple[Period, bool]:
    """Freeze ``period``'s statement; returns the period and whether this call closed it.

    ``rates`` are the configured exchange rates: the one in effect at the period's start for each billing
    currency is recorded with the statement, so converting it later gives the same figures.

    Closing again with the same idempotency key returns the issued statement; with another key (or none)
    it is a conflict. A period with unattributed intervals cannot close: its total would miss cost.
    """
    period = parse_period(period)
    row = ensure_period(session, period)
    if row.status == CLOSED:
        if idempotency_key is not None and idempotency_key == row.close_idempotency_key:
            return row, False
        raise ConflictError(f"period {period} is already closed (hash {row.content_hash})")
    start, end = period_window(period)
    report = coverage_report(session, start, end, interval_seconds)
    if not report.complete:
        raise PeriodIncompleteError(_incomplete(period, report))
    provisional = pending_marks(session, start, end, PERIOD_FALLBACK)
    if provisional:
        raise PeriodIncompleteError(
            f"period {period} has {provisional} window(s) whose idle was shared on the month so far; the "
            "attribution job attributes them again on its next run (scheduler), then close the period"
        )
    lines = rounded_lines(usage_lines(session, period) + correction_lines(session, period))
    insert_all(session, StatementLine, [{"period": period, **_line_fields(line)} for line in lines])
    row.status = CLOSED
    row.closed_at = closed_at = datetime.now(UTC)
    row.close_idempotency_key = idempotency_key
    row.content_hash = digest = content_hash(period, lines)
    row.total_usd_micros = sum(x.total_usd_micros for x in lines)
    row.total_cents = sum(x.total_cents for x in lines)
    insert_all(session, StatementRate, _rates_at_start(period, start, rates))
    # the outbox row, in the close's transaction: delivered (docs/budgets.md) only if the close commits
    enqueue_statement(session, period, digest, closed_at)
    session.flush()
    return row, True


def _rates_at_start(period: str, start: datetime, rates: Sequence[Rate]) -> list[dict[str, Any]]:
    """One row per currency that has a rate in effect at the period's start."""
    found = (rate_at(rates, r.source, r.to, start) for r in rates)
    chosen = {r.to: r for r in found if r is not None}
    return [
        {"period": period, "currency": c, "rate": str(r.rate), "effective_from": r.effective_from}
        for c, r in sorted(chosen.items())
    ]


def _incomplete(period: str, report: CoverageReport) -> str:
    """Why ``period`` cannot close, with the counts ``attribution collect coverage`` shows for it."""
    expected, attributed = report.intervals_in_window, report.intervals_attributed
    never = [f"{s.collector}@{s.source} {s.not_collected}" for s in report.sources if s.not_collected]
    if never:
        return (
            f"period {period} has intervals never collected ({', '.join(never)} of {expected}); "
            "backfill them (attribution collect --start --end), then attribute the period before closing it"
        )
    return (
        f"period {period} has {expected - attributed} of {expected} intervals not attributed; "
        "attribute the whole period before closing it"
    )


def _line_fields(line: Any) -> dict[str, Any]:
    return {f: getattr(line, f) for f in line.__slots__}


Key = tuple[str, str, str, str]
"""(pool, tenant, tier, cluster)"""


def _billed(session: Session, period: str) -> dict[Key, dict[str, float]]:
    """What has been billed for ``period``: its statement's usage lines plus every correction since."""
    billed: dict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    fields = [*(f"{c}_usd_micros" for c in COMPONENTS), *IDLE_PART_FIELDS, "total_usd_micros", *USAGE_FIELDS]
    for s in session.scalars(
        select(StatementLine).where(StatementLine.period == period, StatementLine.charge_class == USAGE)
    ):
        for f in fields:
            billed[(s.pool, s.tenant, s.tier, s.cluster)][f] += getattr(s, f)
    for c in session.scalars(select(CorrectionLine).where(CorrectionLine.charge_period == period)):
        for f in fields:
            billed[(c.pool, c.tenant, c.tier, c.cluster)][f] += getattr(c, f)
    return billed


def issue_corrections(session: Session, start: datetime, end: datetime) -> int:
    """For each closed period overlapping ``[start, end)``, bill what changed in the next open period."""
    written = 0
    for row in session.scalars(select(Period).where(Period.status == CLOSED).order_by(Period.period)):
        p_start, p_end = period_window(row.period)
        if p_end <= start or p_start >= end:
            continue
        billing = _next_open(session, row.period)
        lines = usage_lines(session, row.period)
        current = {(x["pool"], x["tenant"], x["tier"], x["cluster"]): x for x in lines}
        billed = _billed(session, row.period)
        rows = []
        for key in sorted(set(current) | set(billed)):
            delta = _delta(current.get(key), billed.get(key))
            if delta is not None:
                rows.append(
                    {
                        "billing_period": billing,
                        "charge_period": row.period,
                        "pool": key[0],
                        "tenant": key[1],
                        "tier": key[2],
                        "cluster": key[3],
                        "created_at": datetime.now(UTC),
                        **delta,
                    }
                )
        insert_all(session, CorrectionLine, rows)
        written += len(rows)
    return written


def _delta(now: dict[str, Any] | None, billed: dict[str, float] | None) -> dict[str, Any] | None:
    money = [*(f"{c}_usd_micros" for c in COMPONENTS), "total_usd_micros"]
    out: dict[str, Any] = {}
    # idle's kinds move with it; a change of kinds alone (a backfilled statement re-attributed) bills
    # nothing, so it issues no correction by itself
    for f in [*money, *IDLE_PART_FIELDS]:
        out[f] = int((now or {}).get(f, 0)) - int((billed or {}).get(f, 0))
    for f in USAGE_FIELDS:
        diff = (now or {}).get(f, 0) - (billed or {}).get(f, 0)
        out[f] = diff if f.startswith("kv_") else int(diff)
    if not any(out[f] for f in money) and not any(out[f] for f in ("requests", "prompt_tokens")):
        return None
    return out


def _next_open(session: Session, period: str) -> str:
    candidate = next_period(period)
    while ensure_period(session, candidate).status == CLOSED:
        candidate = next_period(candidate)
    return candidate
