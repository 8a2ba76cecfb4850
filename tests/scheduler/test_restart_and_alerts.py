"""A restart keeps the attribution's rhythm, and the lag alert is derived from the cadences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import JobConfig, SchedulerConfig, Settings
from attribution.scheduler.alerts import alert_rules, lag_alert
from attribution.scheduler.app import build_scheduler, first_attribution_run
from attribution.store.collection_state import ALL_SOURCES, ATTRIBUTION, advance_watermark, ensure_watermark
from attribution.store.session import unit_of_work
from tests.builders import small_cluster_settings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 14, 42, tzinfo=UTC)


def _attributed_at(factory: sessionmaker[Session], when: datetime) -> None:
    with unit_of_work(factory) as session:
        ensure_watermark(session, ATTRIBUTION, ALL_SOURCES, when, when)
        advance_watermark(session, ATTRIBUTION, ALL_SOURCES, when, when)


def test_an_overdue_attribution_is_due_at_once_after_a_restart(sqlite_factory: sessionmaker[Session]) -> None:
    settings = small_cluster_settings()  # attribution every 300 s
    assert first_attribution_run(settings, sqlite_factory, NOW) <= NOW + timedelta(seconds=15)  # never ran
    _attributed_at(sqlite_factory, NOW - timedelta(seconds=299))
    assert first_attribution_run(settings, sqlite_factory, NOW) <= NOW + timedelta(seconds=15)
    _attributed_at(sqlite_factory, NOW - timedelta(seconds=100))  # not due: its rhythm goes on
    assert first_attribution_run(settings, sqlite_factory, NOW) == NOW + timedelta(seconds=200)
    _attributed_at(sqlite_factory, NOW - timedelta(hours=3))  # long overdue: at once, not in 300 s
    due = first_attribution_run(settings, sqlite_factory, NOW)
    assert NOW < due <= NOW + timedelta(seconds=15)


def test_the_attribution_job_starts_from_its_watermark(sqlite_factory: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    _attributed_at(sqlite_factory, now - timedelta(seconds=60))
    scheduler = build_scheduler(small_cluster_settings(), sqlite_factory, scheduler=BackgroundScheduler())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["attribute"].next_run_time == now + timedelta(seconds=240)
    assert jobs["collect:gpu:prometheus"].name == "collect gpu@prometheus"


def test_the_lag_alert_comes_from_the_cadences() -> None:
    settings = small_cluster_settings()
    alert = lag_alert(settings)
    # safety lag 120 + interval 60 + collector period 60 + attribution period 300
    assert alert.healthy_max_seconds == 540
    assert alert.threshold_seconds == 2 * 540 and alert.for_seconds == 300
    fast = settings.model_copy(
        update={
            "scheduler": SchedulerConfig(
                gpu=JobConfig(every_seconds=5),
                kv=JobConfig(every_seconds=5),
                gateway=JobConfig(every_seconds=5),
                attribution=JobConfig(every_seconds=20),
            )
        }
    )
    assert lag_alert(fast).healthy_max_seconds == 120 + 60 + 5 + 20


def test_the_deployed_rules_and_the_runbook_are_the_defaults() -> None:
    defaults = Settings()
    assert (ROOT / "deploy/prometheus/alerts.yml").read_text() == alert_rules(defaults)
    runbook = (ROOT / "docs/operations.md").read_text()
    assert lag_alert(defaults).expr in runbook
    assert f"for: {lag_alert(defaults).for_seconds}s" in runbook
