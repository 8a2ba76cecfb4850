"""The scheduler in-process: its jobs' settings, a run up to now - lag with attribution following,
self-metrics over HTTP, and ``--once``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import requests
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import JobConfig, SchedulerConfig, Settings
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus, free_port
from attribution.scheduler.app import build_scheduler, run_scheduler
from attribution.scheduler.outcome import RunOutcome
from attribution.scheduler.selfmetrics import CollectorMetrics, serve_metrics
from attribution.store.collection_state import all_watermarks, source_coverage
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost
from tests.support.settings_env import settings_environ
from tests.support.simulated import END, START, Simulated, collection_settings

LAG = timedelta(seconds=60)
EVERY = JobConfig(every_seconds=1)


def scheduled_settings(simulated: Simulated, url: str, prom: str, **scheduler: Any) -> Settings:
    settings = collection_settings(simulated, url, prom, chunk_intervals=30)
    values: dict[str, Any] = {"gpu": EVERY, "kv": EVERY, "gateway": EVERY, "attribution": EVERY}
    values.update(scheduler)
    return settings.model_copy(update={"scheduler": SchedulerConfig(**values)})


def test_every_job_runs_alone_coalesces_and_has_a_misfire_grace(
    simulated: Simulated, sqlite_factory: sessionmaker[Session]
) -> None:
    settings = scheduled_settings(
        simulated, "sqlite://", "http://127.0.0.1:1", kv=JobConfig(enabled=False), misfire_grace_seconds=42
    )
    scheduler = build_scheduler(settings, sqlite_factory, scheduler=BackgroundScheduler())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"collect:gpu:prometheus", "collect:gateway:prometheus", "attribute"}
    for job in jobs.values():
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 42)
        assert job.trigger.interval == timedelta(seconds=1)


def test_the_scheduler_collects_up_to_now_minus_lag_and_attribution_follows(
    simulated: Simulated, sim_prometheus: LocalPrometheus, pg_factory: sessionmaker[Session]
) -> None:
    settings = scheduled_settings(simulated, "sqlite://", sim_prometheus.url)
    windows: list[tuple[datetime, datetime]] = []

    def hook(s: Settings, f: sessionmaker[Session], start: datetime, end: datetime) -> object:
        windows.append((start, end))
        return run_attribution(s, f, start, end)

    metrics = CollectorMetrics(clock=lambda: END + LAG)
    scheduler = build_scheduler(
        settings,
        pg_factory,
        attribute=hook,
        metrics=metrics,
        clock=lambda: END + LAG,
        scheduler=BackgroundScheduler(),
    )
    scheduler.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with pg_factory() as session:
                marks = {(w.collector, w.source): w.watermark for w in all_watermarks(session)}
            if len(marks) == 4 and set(marks.values()) == {END}:
                break
            time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert set(marks.values()) == {END}, marks
    # attribution went window by window behind the collectors, each from the start of its hour
    assert windows[0][0] == START and windows[-1][1] == END
    assert all(start.minute == 0 and start <= prev_end for (_, prev_end), (start, _) in pairwise(windows))
    with pg_factory() as session:
        assert session.scalar(select(func.min(AttributedCost.interval_start))) == START
        # lines are stored per hour (line_grain_seconds): the last one starts an hour before the end
        assert session.scalar(select(func.max(AttributedCost.interval_start))) == END - timedelta(hours=1)
    text = metrics.render()
    for collector in ("gpu", "kv", "gateway"):
        assert (
            f'attribution_collector_lag_seconds{{collector="{collector}",source="prometheus"}} 60.0' in text
        )
        assert (
            f'attribution_collector_runs_total{{collector="{collector}",source="prometheus",status="ok"}}'
            in text
        )
    assert 'attribution_collector_lag_seconds{collector="attribution",source="*"} 60.0' in text


def test_self_metrics_are_served_over_http() -> None:
    metrics = CollectorMetrics(clock=lambda: START + timedelta(minutes=10))
    metrics.observe(RunOutcome("gpu", "prom", "failed", 0, 0, START, "refused", "source_unavailable", 0.25))
    metrics.observe(RunOutcome("gpu", "prom", "ok", 2, 120, START + timedelta(minutes=5), None, None, 0.75))
    for _ in range(3):
        metrics.source_failure("prom", "source_unavailable")
    server = serve_metrics(metrics, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        response = requests.get(f"{url}/metrics", timeout=5)
        assert requests.get(f"{url}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = set(response.text.splitlines())
    assert 'attribution_collector_lag_seconds{collector="gpu",source="prom"} 300.0' in lines
    assert 'attribution_collector_rows_written_total{collector="gpu",source="prom"} 120.0' in lines
    assert (
        'attribution_collector_errors_total{collector="gpu",source="prom",kind="source_unavailable"} 1.0'
        in lines
    )
    assert 'attribution_collector_run_duration_seconds_count{collector="gpu",source="prom"} 2.0' in lines
    assert 'attribution_source_request_failures_total{source="prom",kind="source_unavailable"} 3.0' in lines
    assert "# TYPE attribution_collector_lag_seconds gauge" in lines


def test_once_runs_every_job_once_and_returns(
    simulated: Simulated, sim_prometheus: LocalPrometheus, tmp_path: Path
) -> None:
    """``attribution scheduler --once`` (a cron job): every job once, up to the real now - lag."""
    url = f"sqlite:///{tmp_path / 'once.db'}"
    upgrade(url)
    began = datetime.now(UTC)
    settings = scheduled_settings(simulated, url, sim_prometheus.url)
    collection = settings.collection.model_copy(update={"start_at": began - timedelta(minutes=30)})
    run_scheduler(settings.model_copy(update={"collection": collection}), once=True)
    finished = datetime.now(UTC)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        marks = {w.collector: w.watermark for w in all_watermarks(session)}
        coverage = {
            (r.collector, r.status): r.intervals
            for r in source_coverage(session, START, finished + timedelta(hours=1))
        }
    engine.dispose()
    assert set(marks) == {"gpu", "kv", "gateway", "attribution"}
    assert len(set(marks.values())) == 1
    # the run reads the clock after ``began``: a minute boundary may pass in between, never two
    assert began - LAG - timedelta(minutes=1) <= marks["gpu"] <= finished - LAG
    # the simulated history is in the past: every interval from start_at's to the watermark is there, as
    # missing; 29 whole intervals, or 30 when a minute boundary passed while the run read the clock
    assert collection.start_at is not None
    first = collection.start_at.replace(second=0, microsecond=0)  # the first watermark: start_at's interval
    intervals = int((marks["gpu"] - first).total_seconds()) // 60
    assert intervals in (29, 30)
    assert coverage == {(c, "missing"): intervals for c in ("gpu", "kv", "gateway")}


def test_the_scheduler_process_serves_metrics_and_stops_on_sigterm(
    simulated: Simulated, sim_prometheus: LocalPrometheus, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'process.db'}"
    upgrade(url)
    port = free_port()
    settings = scheduled_settings(simulated, url, sim_prometheus.url, metrics_port=port)
    collection = settings.collection.model_copy(update={"start_at": datetime.now(UTC) - timedelta(minutes=5)})
    env = settings_environ(settings.model_copy(update={"collection": collection}))
    process = subprocess.Popen(
        [sys.executable, "-m", "attribution.scheduler"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        text, deadline = "", time.monotonic() + 60
        # until every job has reported a run: they start together and finish in any order
        ran = [f'attribution_collector_runs_total{{collector="{c}"' for c in ("gpu", "kv", "gateway")]
        while time.monotonic() < deadline and not all(r in text for r in [*ran, 'source="*",status=']):
            time.sleep(0.3)
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.RequestException:
                continue
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, out.decode()[-2000:]
    for collector in ("gpu", "kv", "gateway", "attribution"):
        assert f'attribution_collector_runs_total{{collector="{collector}"' in text, text
    assert "attribution_collector_lag_seconds" in text
