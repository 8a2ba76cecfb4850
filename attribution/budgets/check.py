"""``attribution budgets check``, the scheduler's pass after each attribution run, and its deliveries job.

Two steps, each in its own transactions: **fire** (read every budget's month, insert one alert row per
new crossing into the outbox, ``budget_alerts``: a crossing already recorded is not fired again, however
often this runs or on how many replicas), then **deliver** (each pending alert, locked while it is sent so
that two replicas never send it at once, with its attempts written to the delivery log in the same
transaction as its new status). The scheduler fires after each attribution run and delivers in its own
``deliveries`` job (every 30 s by default), so an alert waits at most that long, whatever the
attribution's period, and a slow receiver never holds up an attribution run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.budgets.signing import read_secret
from attribution.budgets.statements import deliver_statements
from attribution.budgets.status import BudgetStatus, budget_statuses
from attribution.budgets.webhook import post_signed
from attribution.config import Settings, WebhookConfig
from attribution.ledger.close import period_of
from attribution.model.budget import AlertKind, Crossing
from attribution.model.money import format_micros
from attribution.store.budgets import (
    DELIVERED,
    FAILED,
    PENDING,
    UNSENT,
    lock_pending,
    pending_ids,
    record_alert,
    set_status,
)
from attribution.store.deliveries import attempts_logged, last_attempt_at, log_attempt
from attribution.store.session import unit_of_work
from attribution.timeutil import iso

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CheckResult:
    statuses: list[BudgetStatus]
    fired: list[str] = field(default_factory=list)
    """Delivery ids of the alerts this check fired."""
    delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Gave up on in this check (``max_checks`` reached)."""
    attempts: int = 0
    statements_delivered: list[str] = field(default_factory=list)
    """Periods whose closed statement this check delivered (:mod:`.statements`)."""


def alert_body(status: BudgetStatus, crossing: Crossing, fired_at: datetime) -> dict[str, object]:
    """The webhook's JSON body: amounts as exact micro-USD and as decimal USD strings, never floats."""
    amount = status.spent_usd_micros if crossing.kind == AlertKind.ACTUAL else status.projected_usd_micros
    assert amount is not None
    return {
        "type": "budget.threshold_reached",
        "delivery_id": crossing.delivery_id,
        "budget": status.budget,
        "tenant": status.tenant,
        **({"cluster": status.cluster} if status.cluster is not None else {}),  # one cluster's budget
        "period": status.period,
        "kind": crossing.kind.value,
        "threshold_percent": crossing.threshold_percent,
        "budget_usd": format_micros(status.budget_usd_micros),
        "amount_usd": format_micros(amount),
        "budget_usd_micros": status.budget_usd_micros,
        "amount_usd_micros": amount,
        "spent_usd_micros": status.spent_usd_micros,
        "projected_usd_micros": status.projected_usd_micros,
        "attributed_seconds": status.attributed_seconds,
        "period_seconds": status.period_seconds,
        "fired_at": iso(fired_at),
    }


def fire_alerts(session: Session, settings: Settings, period: str, now: datetime) -> CheckResult:
    """Record every new crossing of ``period``; an alert is ``pending`` when a webhook is configured."""
    result = CheckResult(budget_statuses(session, settings, period))
    status_of_new = PENDING if settings.budget_webhook.url is not None else UNSENT
    for status in result.statuses:
        for crossing in status.crossed:
            body = alert_body(status, crossing, now)
            values: dict[str, object] = {
                "delivery_id": crossing.delivery_id,
                "budget": crossing.budget,
                "period": crossing.period,
                "threshold_percent": crossing.threshold_percent,
                "kind": crossing.kind.value,
                "budget_usd_micros": status.budget_usd_micros,
                "amount_usd_micros": body["amount_usd_micros"],
                "payload": json.dumps(body, sort_keys=True, separators=(",", ":")),
                "status": status_of_new,
                "checks": 0,
                "fired_at": now,
            }
            if record_alert(session, values):
                result.fired.append(crossing.delivery_id)
                log.info(
                    "budget %s: %s spend reached %d%% of %s in %s",
                    crossing.budget,
                    crossing.kind.value,
                    crossing.threshold_percent,
                    format_micros(status.budget_usd_micros),
                    period,
                )
    return result


MAX_RETRY_AFTER_SECONDS = 3600


def retry_due(config: WebhookConfig, checks: int, last_try: datetime | None, now: datetime) -> bool:
    """Whether a pass at ``now`` retries an alert that ``checks`` earlier passes failed to deliver:
    ``retry_after_seconds`` after the last try, doubled per failed pass after the first, capped."""
    if checks == 0 or last_try is None:
        return True
    wait = min(config.retry_after_seconds * 2 ** (checks - 1), MAX_RETRY_AFTER_SECONDS)
    return now >= last_try + timedelta(seconds=wait)


def deliver_pending(
    settings: Settings,
    factory: sessionmaker[Session],
    result: CheckResult,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> None:
    """Send each pending alert, oldest first (one transaction each); no webhook configured: nothing to
    send. The first alert that cannot be delivered ends this pass's sending, so a receiver that is down
    costs one alert's retries per pass, however many are pending. With ``now`` (the scheduler's passes)
    an alert an earlier pass failed to deliver waits out its backoff (:func:`retry_due`) first."""
    config = settings.budget_webhook
    if config.url is None or config.secret_file is None:
        return
    secret = read_secret(config.secret_file)
    with factory() as session:
        ids = pending_ids(session)
    for delivery_id in ids:
        down = False
        with unit_of_work(factory) as session:
            row = lock_pending(session, delivery_id)
            if row is None:  # delivered meanwhile, or another replica holds it
                continue
            if now is not None and not retry_due(
                config, row.checks, last_attempt_at(session, delivery_id), now
            ):
                break  # the receiver failed it lately: newer alerts wait with it, in order
            done = attempts_logged(session, delivery_id)
            tries = post_signed(
                config, secret, delivery_id, row.payload.encode(), first_attempt=done + 1, sleep=sleep
            )
            for t in tries:
                log_attempt(session, delivery_id, t.attempt, t.at, t.status_code, t.error, t.duration_seconds)
            result.attempts += len(tries)
            checks = row.checks + 1
            down = not tries[-1].ok
            if tries[-1].ok:
                set_status(session, delivery_id, DELIVERED, checks, tries[-1].at)
                result.delivered.append(delivery_id)
            elif checks >= config.max_checks:
                set_status(session, delivery_id, FAILED, checks, None)
                result.failed.append(delivery_id)
                log.warning(
                    "budget alert %s: giving up after %d checks (%s)", delivery_id, checks, tries[-1].error
                )
            else:
                set_status(session, delivery_id, PENDING, checks, None)
                log.warning(
                    "budget alert %s: not delivered (%s); retried on the next check",
                    delivery_id,
                    tries[-1].error,
                )
        if down:  # the receiver is failing: the other alerts wait for the next check, not this job
            break


def fire_budget_alerts(
    settings: Settings, factory: sessionmaker[Session], now: datetime, period: str | None = None
) -> CheckResult:
    """Record the new crossings of ``period`` (default: the month of ``now``) in the outbox, one
    transaction; nothing is sent."""
    with unit_of_work(factory) as session:
        return fire_alerts(session, settings, period or period_of(now), now)


def deliver_outbox(
    settings: Settings,
    factory: sessionmaker[Session],
    result: CheckResult | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> CheckResult:
    """Deliver every pending alert, then the statements of periods closed since the last delivery; with
    ``now``, alerts earlier passes failed to deliver only once their backoff has passed."""
    result = result or CheckResult([])
    deliver_pending(settings, factory, result, sleep=sleep, now=now)
    result.statements_delivered = deliver_statements(settings, factory, sleep=sleep)
    return result


def check_budgets(
    settings: Settings,
    factory: sessionmaker[Session],
    now: datetime | None = None,
    period: str | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckResult:
    """Fire the alerts of ``period`` (default: the month of ``now``), deliver every pending one, and
    deliver the statements of periods closed since the last check."""
    result = fire_budget_alerts(settings, factory, now or datetime.now(UTC), period)
    return deliver_outbox(settings, factory, result, sleep=sleep)
