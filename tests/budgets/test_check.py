"""Budgets on real Postgres: spend as the chargeback gives it, the projection, alerts fired once and
delivered once to a real receiver that fails first, signed, logged, never resent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from attribution.budgets.check import check_budgets
from attribution.budgets.status import budget_statuses
from attribution.model.budget import AlertKind
from attribution.scheduler.selfmetrics import CollectorMetrics
from attribution.store.budgets import alerts_of
from attribution.store.deliveries import delivery_log
from tests.support.budgets import (
    ACME_CORRECTION,
    ACME_USAGE,
    ATTRIBUTED_INTERVALS,
    GLOBEX_USAGE,
    NOVEMBER_SECONDS,
    budget_settings,
    receiver,
    store_month,
)

NOW = datetime(2026, 11, 2, 2, tzinfo=UTC)


def test_spend_and_projection_hand_worked(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    settings = budget_settings(tmp_path)
    with pg_tx() as session:
        acme, cluster, globex = budget_statuses(session, settings, "2026-11")
    assert acme.attributed_seconds == ATTRIBUTED_INTERVALS * 60 == 7_140
    assert acme.period_seconds == NOVEMBER_SECONDS
    assert acme.spent_usd_micros == ACME_USAGE + ACME_CORRECTION == 6_500_000
    # 6,000,000 x 2,592,000 // 7,140 = 2,178,151,260, plus the one-off correction
    assert acme.projected_usd_micros == 2_178_651_260
    assert cluster.spent_usd_micros == 7_500_001
    assert cluster.projected_usd_micros == 7_000_001 * 2_592_000 // 7_140 + 500_000 == 2_541_676_833
    assert globex.projected_usd_micros == GLOBEX_USAGE * 2_592_000 // 7_140
    assert [(c.kind, c.threshold_percent) for c in acme.crossed] == [
        (AlertKind.ACTUAL, 50),
        (AlertKind.PROJECTED, 50),
        (AlertKind.PROJECTED, 80),
        (AlertKind.PROJECTED, 100),
    ]
    assert [(c.kind, c.threshold_percent) for c in cluster.crossed] == [
        (AlertKind.PROJECTED, 50),
        (AlertKind.PROJECTED, 80),
    ]
    assert globex.crossed == []


def test_receiver_failing_twice_gets_each_alert_once(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    slept: list[float] = []
    with receiver(fail_first=2) as hook:
        settings = budget_settings(tmp_path, hook.url)
        first = check_budgets(settings, pg_tx, NOW, sleep=slept.append)
        assert len(first.fired) == 6
        assert sorted(hook.accepted()) == sorted(first.fired) == sorted(first.delivered)
        assert len(hook.requests) == 8  # two 500s, then each of the six once
        assert all(r.signed for r in hook.requests)
        assert all(r.body["delivery_id"] == r.delivery_id for r in hook.requests)
        # the first alert failed twice: backoff 0.5 s then 1 s, then it went through
        assert slept == [0.5, 1.0]
        assert hook.requests[0].delivery_id == hook.requests[1].delivery_id == hook.requests[2].delivery_id

        again = check_budgets(settings, pg_tx, NOW, sleep=slept.append)
        assert again.fired == [] and again.delivered == [] and len(hook.requests) == 8

    with pg_tx() as session:
        log = delivery_log(session)
        assert [(x.attempt, x.status_code) for x in log[:3]] == [(1, 500), (2, 500), (3, 200)]
        assert len(log) == 8 and log[0].error == "HTTP 500"
        assert {a.status for a in alerts_of(session, "2026-11")} == {"delivered"}


def test_undelivered_alert_is_retried_on_later_checks_then_given_up(
    pg_tx: sessionmaker[Session], tmp_path: Path
) -> None:
    store_month(pg_tx)
    with receiver(fail_first=10**6) as hook:
        settings = budget_settings(tmp_path, hook.url, attempts=2, max_checks=2)
        first = check_budgets(settings, pg_tx, NOW, sleep=lambda _: None)
        # a receiver that is down costs one alert's tries per check, not six alerts' tries
        assert len(first.fired) == 6 and first.delivered == [] and first.attempts == 2
        second = check_budgets(settings, pg_tx, NOW, sleep=lambda _: None)
        assert second.fired == [] and second.attempts == 2
        oldest = hook.requests[0].delivery_id
        assert second.failed == [oldest]
        assert {r.delivery_id for r in hook.requests} == {oldest}
        third = check_budgets(settings, pg_tx, NOW, sleep=lambda _: None)
        assert third.attempts == 2 and hook.requests[-1].delivery_id != oldest
    with pg_tx() as session:
        assert [x.attempt for x in delivery_log(session, oldest)] == [1, 2, 3, 4]
        status = {a.delivery_id: a.status for a in alerts_of(session)}
        assert status.pop(oldest) == "failed" and set(status.values()) == {"pending"}


def test_without_a_webhook_alerts_are_recorded_unsent(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    result = check_budgets(budget_settings(tmp_path), pg_tx, NOW)
    assert len(result.fired) == 6 and result.attempts == 0
    with pg_tx() as session:
        assert {a.status for a in alerts_of(session)} == {"unsent"}


def test_budget_gauges_on_the_scheduler_metrics(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    metrics = CollectorMetrics()
    metrics.budgets(check_budgets(budget_settings(tmp_path), pg_tx, NOW))
    text = metrics.render()
    assert 'attribution_budget_spent_ratio{budget="tenant:acme",tenant="acme"} 0.65\n' in text
    assert (
        f'attribution_budget_projected_ratio{{budget="cluster"}} {2_541_676_833 / 3_000_000_000!r}\n' in text
    )
    assert (
        'attribution_budget_threshold_reached{budget="tenant:acme",tenant="acme",kind="projected",'
        'threshold="100"} 1.0\n'
    ) in text
    assert 'budget="tenant:globex"' in text and 'threshold_reached{budget="tenant:globex"' not in text
