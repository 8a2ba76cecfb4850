"""``attribution scheduler``: APScheduler in its own process: a job per (collector, source) and attribution.

Every job has ``max_instances=1`` (a run never overlaps itself), ``coalesce=True`` (runs missed while one
was slow collapse into one: the watermark makes one run catch up anyway) and ``misfire_grace_time``. Each
collector job collects ``[watermark, now - safety lag)`` (:mod:`attribution.collectors.watermarks`); the
attribution job attributes what every collector has committed, through ``run_attribution``, passed in as
a hook because the collectors sit below ``jobs``. Replicas may run side by side on one Postgres: the
watermark row locks make each window collected and attributed once. Self-metrics are served on
``scheduler.metrics_port``. SIGTERM and SIGINT stop it after the running jobs finish.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any

import typer
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.follow import AttributeHook, attribute_once, followed_plans
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient
from attribution.collectors.selfmetrics import CollectorMetrics, serve_metrics
from attribution.collectors.watermarks import RunOutcome, run_once
from attribution.config import Settings, load_settings
from attribution.jobs.attribute import run_attribution
from attribution.store.session import make_engine, make_sessionmaker

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def scheduled_plans(settings: Settings) -> list[Plan]:
    return followed_plans(settings)


def collect_job(
    settings: Settings,
    factory: sessionmaker[Session],
    plan: Plan,
    metrics: CollectorMetrics,
    clock: Clock = _utcnow,
) -> Callable[[], RunOutcome]:
    client = PromClient.for_source(
        plan.source, settings.collection.retry, settings.collection.max_series_per_query
    )
    client.on_failure = lambda kind: metrics.source_failure(plan.source.name, kind)

    def run() -> RunOutcome:
        limit = settings.collection.max_chunks_per_run
        outcome = run_once(settings, factory, plan, client, now=clock(), max_chunks=limit)
        metrics.observe(outcome)
        return outcome

    return run


def attribution_job(
    settings: Settings,
    factory: sessionmaker[Session],
    hook: AttributeHook,
    metrics: CollectorMetrics,
    clock: Clock = _utcnow,
) -> Callable[[], RunOutcome]:
    followed = scheduled_plans(settings)

    def run() -> RunOutcome:
        outcome = attribute_once(settings, factory, hook, followed, now=clock())
        metrics.observe(outcome)
        return outcome

    return run


def build_scheduler(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    hook: AttributeHook = run_attribution,
    metrics: CollectorMetrics | None = None,
    clock: Clock = _utcnow,
    scheduler: BaseScheduler | None = None,
) -> BaseScheduler:
    """A scheduler with every enabled job, each due at once and then every ``every_seconds``."""
    scheduler = scheduler or BlockingScheduler(timezone=UTC)
    metrics = metrics or CollectorMetrics(clock)
    common: dict[str, Any] = {
        "max_instances": 1,
        "coalesce": True,
        "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
        "next_run_time": datetime.now(UTC),
    }
    for plan in scheduled_plans(settings):
        every = settings.scheduler.job(plan.collector).every_seconds
        scheduler.add_job(
            collect_job(settings, factory, plan, metrics, clock),
            IntervalTrigger(seconds=every, timezone=UTC),
            id=f"collect:{plan.collector.value}:{plan.source.name}",
            **common,
        )
    if settings.scheduler.attribution.enabled:
        scheduler.add_job(
            attribution_job(settings, factory, hook, metrics, clock),
            IntervalTrigger(seconds=settings.scheduler.attribution.every_seconds, timezone=UTC),
            id="attribute",
            **common,
        )

    def on_error(event: JobExecutionEvent) -> None:
        kind = type(event.exception).__name__
        collector, _, source = str(event.job_id).removeprefix("collect:").partition(":")
        metrics.error(collector, source or "*", kind)

    scheduler.add_listener(on_error, EVENT_JOB_ERROR)
    return scheduler


def log_outcome(outcome: RunOutcome) -> None:
    """One line per run, its fields also as structured ``extra`` (queryable in JSON logs)."""
    fields = dataclasses.asdict(outcome)
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    log.log(level, "%s/%s: %s", outcome.collector, outcome.source, outcome.status, extra=fields)


def run_scheduler(settings: Settings, once: bool = False) -> None:
    """Run until SIGTERM/SIGINT; with ``once``, run every job once, in order, and return."""
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    metrics = CollectorMetrics()
    if once:
        for plan in scheduled_plans(settings):
            log_outcome(collect_job(settings, factory, plan, metrics)())
        if settings.scheduler.attribution.enabled:
            log_outcome(attribution_job(settings, factory, run_attribution, metrics)())
        engine.dispose()
        return
    server = None
    if settings.scheduler.metrics_port:
        server = serve_metrics(metrics, settings.scheduler.metrics_host, settings.scheduler.metrics_port)
    scheduler = build_scheduler(settings, factory, metrics=metrics)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the running jobs", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    finally:
        if server is not None:
            server.shutdown()
        engine.dispose()


def scheduler_command(
    once: Annotated[bool, typer.Option(help="run every job once and exit (for a cron job)")] = False,
) -> None:
    """Collect on a schedule (one job per collector and source) and attribute what was collected."""
    from attribution.logging import setup_from_settings

    settings = load_settings()
    setup_from_settings(settings)
    run_scheduler(settings, once=once)


if __name__ == "__main__":  # python -m attribution.scheduler, where the CLI is not installed
    typer.run(scheduler_command)
