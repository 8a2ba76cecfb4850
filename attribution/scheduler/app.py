"""``attribution scheduler``: APScheduler in its own process: per cluster, a job per (collector, source)
and one attributing it.

Every job has ``max_instances=1`` (a run never overlaps itself), ``coalesce=True`` (runs missed while one
was slow collapse into one: the watermark makes one run catch up anyway) and ``misfire_grace_time``. Each
collector job collects ``[watermark, now - safety lag)`` (:mod:`attribution.scheduler.collect_loop`); the
attribution job attributes what every collector has committed (:mod:`attribution.scheduler.attribute_loop`).
Replicas may run side by side on one Postgres: the watermark row locks make each window collected and
attributed once. Self-metrics are served on ``scheduler.metrics_port``. SIGTERM and SIGINT stop it after
the running jobs finish.

Each cluster's jobs run on that cluster's settings (:meth:`~attribution.config.Settings.for_cluster`) and
rows: a cluster whose Prometheus is down holds back its own attribution only; the others' run on time.

Every run logs one line (:func:`~attribution.scheduler.outcome.log_outcome`): what ran, the window it
committed, rows, duration and lag, or the error's kind and when the next try is. A restart keeps the
attribution's rhythm: its first run is due when the last one (the watermark row's ``last_success_at``)
plus its period says, at once if that has passed. :func:`~attribution.scheduler.alerts.lag_alert` derives
the lag alert's threshold from the cadences (``docs/operations.md``).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Annotated, Any

import typer
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session, sessionmaker

from attribution.budgets.check import deliver_outbox, fire_budget_alerts
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient
from attribution.config import Settings, load_settings
from attribution.errors import AttributionError
from attribution.ledger.attribute import run_attribution
from attribution.ledger.watermark import followed_plans
from attribution.scheduler.alerts import alert_rules
from attribution.scheduler.attribute_loop import AttributeJob, attribute_once
from attribution.scheduler.collect_loop import run_once
from attribution.scheduler.outcome import RunOutcome, log_outcome
from attribution.scheduler.selfmetrics import CollectorMetrics, serve_metrics
from attribution.store.collection_state import ALL_SOURCES, ATTRIBUTION, all_watermarks
from attribution.store.session import make_engine, make_sessionmaker

#: The package's name, as the run lines' (:mod:`~attribution.scheduler.outcome`).
log = logging.getLogger("attribution.scheduler")
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


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

    every = settings.scheduler.job(plan.collector).every_seconds

    def run() -> RunOutcome:
        limit = settings.collection.max_chunks_per_run
        now = clock()
        outcome = run_once(settings, factory, plan, client, now=now, max_chunks=limit)
        log_outcome(outcome, now, every)  # logged before counted: a scrape never counts an unlogged run
        metrics.observe(outcome)
        return outcome

    return run


def attribution_job(
    settings: Settings,
    factory: sessionmaker[Session],
    metrics: CollectorMetrics,
    clock: Clock = _utcnow,
    *,
    attribute: AttributeJob = run_attribution,
) -> Callable[[], RunOutcome]:
    followed = followed_plans(settings)

    every = settings.scheduler.attribution.every_seconds

    def run() -> RunOutcome:
        now = clock()
        outcome = attribute_once(settings, factory, followed, now=now, attribute=attribute)
        log_outcome(outcome, now, every)  # logged before counted: a scrape never counts an unlogged run
        metrics.observe(outcome)
        if outcome.status != "failed":
            after_attribution(settings, factory, metrics, now)
        return outcome

    return run


def after_attribution(
    settings: Settings, factory: sessionmaker[Session], metrics: CollectorMetrics, now: datetime
) -> None:
    """Fire the budgets' new alerts into the outbox and publish their gauges; the ``deliveries`` job
    sends them. A failure here is logged and counted, never the attribution run's: the next run checks
    again."""
    if not settings.budgets:
        return
    try:
        metrics.budgets(fire_budget_alerts(settings, factory, now))
    except AttributionError as exc:
        log.warning("budgets: check failed (%s); the next attribution run checks again", exc.detail)
        metrics.error("budgets", ALL_SOURCES, exc.code)


def delivers(settings: Settings) -> bool:
    """Whether anything is ever sent: a budget webhook, or statements delivered to a folder or webhook."""
    delivery = settings.statement_delivery
    return bool(
        settings.budget_webhook.url is not None
        or delivery.folder is not None
        or delivery.webhook.url is not None
    )


def deliveries_job(
    settings: Settings, factory: sessionmaker[Session], metrics: CollectorMetrics, clock: Clock = _utcnow
) -> Callable[[], None]:
    """The outbox's sender: every pending alert (retried with backoff within a pass, and on later passes
    after ``retry_after_seconds``, doubling, until ``max_checks``), then closed periods' statements.
    Each alert is locked while it is sent and carries one delivery id, so replicas never send it twice
    and a receiver drops any repeat."""

    def run() -> None:
        try:
            metrics.deliveries(deliver_outbox(settings, factory, now=clock()))
        except AttributionError as exc:
            log.warning("deliveries: failed (%s); the next pass tries again", exc.detail)
            metrics.error("deliveries", ALL_SOURCES, exc.code)

    return run


def build_scheduler(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    attribute: AttributeJob = run_attribution,
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
    for view in settings.each_cluster():
        # a deployment of one cluster keeps its job ids; with [[clusters]] each id ends in its cluster
        suffix = f":{view.cluster}" if settings.clusters else ""
        for plan in followed_plans(view):
            every = view.scheduler.job(plan.collector).every_seconds
            scheduler.add_job(
                collect_job(view, factory, plan, metrics, clock),
                IntervalTrigger(seconds=every, timezone=UTC),
                id=f"collect:{plan.collector.value}:{plan.source.name}{suffix}",
                name=f"collect {plan.collector.value}@{plan.source.name}{suffix}",
                **common,
            )
        if view.scheduler.attribution.enabled:
            every = view.scheduler.attribution.every_seconds
            first = first_attribution_run(view, factory, clock())
            scheduler.add_job(
                attribution_job(view, factory, metrics, clock, attribute=attribute),
                IntervalTrigger(seconds=every, timezone=UTC, start_date=first),
                id=f"attribute{suffix}",
                name=f"attribute{suffix}",
                **(common | {"next_run_time": first}),
            )

    if settings.scheduler.deliveries.enabled and delivers(settings):
        scheduler.add_job(
            deliveries_job(settings, factory, metrics, clock),
            IntervalTrigger(seconds=settings.scheduler.deliveries.every_seconds, timezone=UTC),
            id="deliveries",
            name="deliveries",
            **common,
        )

    def on_error(event: JobExecutionEvent) -> None:
        kind = type(event.exception).__name__
        collector, _, source = str(event.job_id).removeprefix("collect:").partition(":")
        metrics.error(collector, source.partition(":")[0] or "*", kind)

    scheduler.add_listener(on_error, EVENT_JOB_ERROR)
    return scheduler


def first_attribution_run(settings: Settings, factory: sessionmaker[Session], now: datetime) -> datetime:
    """When the attribution job is next due after a (re)start: its last success plus its period, or, if
    that has passed (or it never ran), a few seconds from now, once the collectors' first runs (due at
    once) have had a moment to commit. Without this a restart would wait a whole period again."""
    every = timedelta(seconds=settings.scheduler.attribution.every_seconds)
    settle = min(every / 10, timedelta(seconds=15))
    try:
        with factory() as session:
            rows = {(w.collector, w.source): w for w in all_watermarks(session, settings.cluster)}
    except Exception:
        return now + settle
    row = rows.get((ATTRIBUTION, ALL_SOURCES))
    if row is None or row.last_success_at is None:
        return now + settle
    return max(row.last_success_at + every, now + settle)


def run_scheduler(settings: Settings, once: bool = False) -> None:
    """Run until SIGTERM/SIGINT; with ``once``, run every job once, in order, and return."""
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    metrics = CollectorMetrics()
    if once:
        # one instant for the whole run: every job reaches the same now - lag, whatever minute boundary
        # passes while the jobs before it run
        began = _utcnow()

        def at_start() -> datetime:
            return began

        for view in settings.each_cluster():
            for plan in followed_plans(view):
                collect_job(view, factory, plan, metrics, clock=at_start)()
            if view.scheduler.attribution.enabled:
                attribution_job(view, factory, metrics, clock=at_start)()
        if settings.scheduler.deliveries.enabled and delivers(settings):
            deliveries_job(settings, factory, metrics)()
        engine.dispose()
        return
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # ours is the line per run
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
    alert_rules_only: Annotated[
        bool, typer.Option("--alert-rules", help="print the Prometheus alert rules for these cadences")
    ] = False,
) -> None:
    """Collect on a schedule (one job per collector and source) and attribute what was collected."""
    from attribution.logging import setup_from_settings

    settings = load_settings()
    if alert_rules_only:
        typer.echo(alert_rules(settings), nl=False)
        return
    setup_from_settings(settings)
    run_scheduler(settings, once=once)
