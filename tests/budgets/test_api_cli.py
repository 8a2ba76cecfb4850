"""``GET /v1/budgets`` (finance scope; spend as /v1/chargeback gives it), the scheduler's hook after an
attribution run, and ``attribution budgets list|check``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from attribution.api.app import create_app
from attribution.budgets.check import check_budgets
from attribution.cli import app as cli_app
from attribution.scheduler.app import after_attribution, build_scheduler, deliveries_job
from attribution.scheduler.selfmetrics import CollectorMetrics
from attribution.store.budgets import alerts_of
from attribution.store.deliveries import delivery_log
from attribution.store.session import make_engine, make_sessionmaker
from tests.support.api import bearer, create_api_key
from tests.support.budgets import budget_settings, receiver, store_month


def test_budgets_route_matches_the_chargeback(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    settings = budget_settings(tmp_path)
    client = TestClient(create_app(settings, pg_tx), raise_server_exceptions=False)
    finance = bearer(create_api_key(pg_tx, "finance"))
    body = client.get("/v1/budgets", params={"period": "2026-11"}, headers=finance).json()
    charged = client.get("/v1/chargeback", params={"period": "2026-11"}, headers=finance).json()
    by_tenant = {t["tenant"]: t for t in charged["tenants"]}
    acme, cluster, _globex = body["budgets"]
    assert acme["spent_usd_micros"] == by_tenant["acme"]["total_usd_micros"] == 6_500_000
    assert acme["spent_cents"] == by_tenant["acme"]["total_cents"]
    assert cluster["spent_usd_micros"] == charged["total_usd_micros"]
    assert acme["projected_usd_micros"] == 2_178_651_260
    assert [c["alert_status"] for c in acme["crossed"]] == [None] * 4  # crossed, not yet checked

    tenant = bearer(create_api_key(pg_tx, "tenant:acme"))
    assert client.get("/v1/budgets", params={"period": "2026-11"}, headers=tenant).status_code == 403
    bad = client.get("/v1/budgets", params={"period": "2026-13"}, headers=finance)
    assert bad.status_code == 422


def test_the_attribution_run_fires_into_the_outbox_and_the_deliveries_job_sends(
    pg_tx: sessionmaker[Session], tmp_path: Path
) -> None:
    """A receiver that fails twice gets each alert exactly once: the first alert is tried three times
    (backoff 0.5 s, then 1 s, for real), the others once; later passes and later runs send nothing."""
    store_month(pg_tx)
    metrics = CollectorMetrics()
    with receiver(fail_first=2) as hook:
        settings = budget_settings(tmp_path, hook.url)
        after_attribution(settings, pg_tx, metrics, datetime(2026, 11, 2, 2, tzinfo=UTC))
        assert hook.requests == []  # fired into the outbox, not sent by the attribution run
        with pg_tx() as session:
            assert {a.status for a in alerts_of(session)} == {"pending"}
        send = deliveries_job(settings, pg_tx, metrics)
        send()
        after_attribution(settings, pg_tx, metrics, datetime(2026, 11, 2, 3, tzinfo=UTC))
        send()
        ids = [r.delivery_id for r in hook.requests]
        assert len(hook.accepted()) == len(set(hook.accepted())) == 6 == len(set(ids))
        assert len(hook.requests) == 8 and ids[0] == ids[1] == ids[2]
        assert all(r.signed for r in hook.requests)
    text = metrics.render()
    assert 'attribution_budget_webhook_attempts_total{outcome="delivered"} 6.0' in text
    assert 'attribution_budget_webhook_attempts_total{outcome="failed"} 2.0' in text
    with pg_tx() as session:
        assert {a.status for a in alerts_of(session)} == {"delivered"}
        assert [(x.attempt, x.status_code) for x in delivery_log(session, ids[0])] == [
            (1, 500),
            (2, 500),
            (3, 200),
        ]


def test_the_deliveries_job_is_scheduled_every_30_seconds_when_something_is_sent(tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine("sqlite://"))
    jobs = {
        job.id: job
        for job in build_scheduler(
            budget_settings(tmp_path, "http://127.0.0.1:9/hook"), factory, scheduler=BackgroundScheduler()
        ).get_jobs()
    }
    assert jobs["deliveries"].trigger.interval.total_seconds() == 30
    quiet = build_scheduler(budget_settings(tmp_path), factory, scheduler=BackgroundScheduler())
    assert "deliveries" not in {job.id for job in quiet.get_jobs()}


def test_a_failing_delivery_does_not_fail_the_job(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    settings = budget_settings(tmp_path, "http://127.0.0.1:9/hook")
    (tmp_path / "webhook-secret").write_text("short")  # too short: a ConfigError at delivery
    metrics = CollectorMetrics()
    after_attribution(settings, pg_tx, metrics, datetime(2026, 11, 2, 2, tzinfo=UTC))
    deliveries_job(settings, pg_tx, metrics)()
    counted = 'attribution_collector_errors_total{collector="deliveries",source="*",kind="config_error"} 1.0'
    assert counted in metrics.render()


@pytest.mark.committed
def test_cli_list_and_check(
    pg_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_month(pg_factory)
    config = tmp_path / "attribution.toml"
    config.write_text(
        'budgets = [{tenant = "acme", monthly_usd = "10.00"}, {monthly_usd = "3000.00", thresholds = [80]}]\n'
    )
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(config))
    url = pg_factory.kw["bind"].url.render_as_string(hide_password=False)
    monkeypatch.setenv("ATTRIBUTION_DATABASE_URL", url)
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["budgets", "list", "--period", "2026-11"])
    assert listed.exit_code == 0, listed.output
    assert "tenant:acme  2026-11 (open)  budget 10.000000  spent 6.500000 (65.0%)" in listed.output
    assert "projected 2178.651260" in listed.output
    checked = runner.invoke(cli_app, ["budgets", "check", "--period", "2026-11"])
    assert checked.exit_code == 0, checked.output
    assert "fired 5, delivered 0" in checked.output and "recorded, not sent" in checked.output
    again = runner.invoke(cli_app, ["budgets", "check", "--period", "2026-11"])
    assert "fired 0," in again.output


def test_console_budgets_page(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    store_month(pg_tx)
    settings = budget_settings(tmp_path)
    check_budgets(settings, pg_tx, datetime(2026, 11, 2, 2, tzinfo=UTC))
    client = TestClient(create_app(settings, pg_tx), base_url="http://console.test")
    signed_in = client.post("/console/login", data={"key": create_api_key(pg_tx, "finance")})
    assert signed_in.status_code == 200
    page = client.get("/console/budgets", params={"period": "2026-11"})
    assert page.status_code == 200
    row = re.search(r"<tr><td>tenant:acme</td>(.*?)</tr>", page.text, re.S)
    assert row is not None
    assert "6.50" in row.group(1) and "65.0%" in row.group(1) and "2,178.65" in row.group(1)
    assert "projected 100% (unsent)" in row.group(1)

    tenant = TestClient(create_app(settings, pg_tx), base_url="http://console.test")
    tenant.post("/console/login", data={"key": create_api_key(pg_tx, "tenant:acme")})
    assert tenant.get("/console/budgets").status_code == 403


def test_the_deliveries_job_backs_off_between_passes(pg_tx: sessionmaker[Session], tmp_path: Path) -> None:
    """A receiver that is down: one try per pass (attempts = 1), and a failed alert is retried only 30 s
    after its last try, then 60 s, not on every 30-second pass."""
    store_month(pg_tx)
    metrics = CollectorMetrics()
    offset = [0.0]

    def clock() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=offset[0])

    with receiver(fail_first=10**6) as hook:
        settings = budget_settings(tmp_path, hook.url, attempts=1)
        after_attribution(settings, pg_tx, metrics, datetime(2026, 11, 2, 2, tzinfo=UTC))
        send = deliveries_job(settings, pg_tx, metrics, clock)
        tried = []
        for at in (0, 5, 31, 45, 95):  # seconds after the first pass
            offset[0] = at
            send()
            tried.append(len(hook.requests))
        # the first pass tries the oldest alert and stops (the receiver is down); 5 s later it is not due;
        # at 31 s it is (30 s after its try); at 45 s not (60 s after the second); at 95 s it is
        assert tried == [1, 1, 2, 2, 3]
        assert {r.delivery_id for r in hook.requests} == {hook.requests[0].delivery_id}
    with pg_tx() as session:
        assert len(delivery_log(session)) == 3
