"""The whole service live, for about three minutes of wall-clock time, as the runbook runs it.

``attribution sim serve`` (the simulated cluster in real time), a real Prometheus scraping it every 2 s,
``attribution scheduler`` with short cadences (10 s intervals, collectors every 3 s, attribution every
15 s) and ``attribution serve``, on Postgres. Prometheus is stopped for about 22 s and started again on
the same data directory and port; later the scheduler is stopped (SIGTERM) and started again. Sampled
every couple of seconds throughout, and checked at the end:

* no attributed line, pool cost or cluster cost covers an interval past the earliest collector watermark;
* ``complete`` (chargeback and coverage) is false until the window is collected and attributed, then true;
* coverage is identical from the CLI, the API and the period-close check;
* the outage's intervals are ``missing`` for the GPU, KV and gateway collectors, and the gateway's usage
  across the outage is spread evenly over it and its lines are estimated;
* the scheduler logs one line per run, with its fields, and never APScheduler's "Running job";
* the lag alert derived from these cadences (:func:`attribution.scheduler.alerts.lag_alert`), evaluated on the
  scheduler's own ``/metrics`` samples, never fires.

The lag timeline is printed (``pytest -s``). Every wait polls with a deadline: a busy machine only makes it
slower.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from attribution.scheduler.alerts import lag_alert
from attribution.store.collection_state import CollectorWatermark, SourceCoverage
from attribution.timeutil import floor_to, iso, period_window
from tests.support.live import (
    GRAIN,
    OUTAGE_SECONDS,
    SCHEDULER_DOWN_SECONDS,
    SIGNALS,
    STEP,
    Service,
    Timeline,
    alert_fired,
    attribution_mark,
    check_nothing_past_the_watermark,
    check_spread,
    cli,
    intervals_within,
    lag_samples,
    run_entries,
    run_lines,
    runs_counted,
    service,
    wait_for,
)

__all__ = ["service"]

WindowState = tuple[bool, bool, datetime | None]
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class Run:
    """What the scenario did and saw."""

    svc: Service
    timeline: Timeline = field(default_factory=Timeline)
    window: tuple[datetime, datetime] = (NEVER, NEVER)
    window_checks: list[WindowState] = field(default_factory=list)
    down_at: datetime = NEVER
    up_at: datetime = NEVER
    counted: dict[str, float] = field(default_factory=dict)
    logged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def window_state(self) -> WindowState:
        """(chargeback complete, coverage complete, attribution watermark read after them) of the window."""
        start, end = iso(self.window[0]), iso(self.window[1])
        cb = self.svc.api("/v1/chargeback", start=start, end=end).json()["complete"]
        cov = self.svc.api("/v1/coverage", start=start, end=end).json()["complete"]
        with self.svc.factory() as session:
            mark = session.get(CollectorWatermark, ("attribution", "*", "default"))
            return cb, cov, None if mark is None else mark.watermark

    def sample(self) -> None:
        """One look at everything: lags, nothing past the watermark, the current hour not final."""
        lags = lag_samples(self.svc.metrics_url)
        if lags:
            self.timeline.lags.append((self.timeline.now(), lags))
        check_nothing_past_the_watermark(self.svc.factory, len(SIGNALS))
        hour = floor_to(datetime.now(UTC), 3600)
        body = self.svc.api("/v1/chargeback", start=iso(hour), end=iso(hour + timedelta(hours=1))).json()
        assert body["complete"] is False, body  # the hour is not over
        attributed = body["intervals_attributed"] * STEP
        assert hour + timedelta(seconds=attributed) <= datetime.now(UTC), body  # never the future
        self.window_checks.append(self.window_state())

    def sample_for(self, seconds: float, until: datetime | None = None) -> None:
        """Sample every 1.5 s for ``seconds``, or (with ``until``) until attribution reaches it, at most."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and (attribution_mark(self.svc) or until) > until:
                return
            self.sample()
            time.sleep(1.5)


def drive(svc: Service) -> Run:
    """Start the scheduler, stop and start Prometheus, restart the scheduler; sample all along."""
    run = Run(svc)
    svc.start_scheduler()
    run.timeline.event("scheduler started")
    started = datetime.now(UTC)
    # a line's minute wholly after the first watermark: collected and attributed during the run
    first = floor_to(started, GRAIN) + timedelta(seconds=2 * GRAIN)
    run.window = (first, first + timedelta(seconds=GRAIN))
    wait_for("the first attribution", lambda: (attribution_mark(svc) or started) > started, 90)
    run.timeline.event("first attribution committed")
    run.sample_for(45)
    run.down_at = datetime.now(UTC)
    svc.prom.stop()
    run.timeline.event("Prometheus stopped")
    run.sample_for(OUTAGE_SECONDS)
    svc.prom.start()
    run.up_at = datetime.now(UTC)
    run.timeline.event("Prometheus started again")
    run.sample_for(30)
    svc.stop_scheduler()
    run.timeline.event("scheduler stopped (SIGTERM)")
    run.sample_for(SCHEDULER_DOWN_SECONDS)
    svc.start_scheduler()
    run.timeline.event("scheduler started again")
    # until attribution has passed the outage (and the gateway's wait for its first sample after it)
    gap_end = floor_to(run.up_at, STEP) + timedelta(seconds=3 * STEP)
    run.sample_for(120, until=max(gap_end, run.window[1]) - timedelta(microseconds=1))
    run.sample_for(20)
    run.timeline.event("end of sampling")
    run.counted = runs_counted(svc.metrics_url)
    run.logged = run_lines(svc.logs[-1])
    svc.stop_scheduler()
    run.timeline.event("scheduler stopped")
    print("\nlag timeline (seconds since the scheduler first started):\n" + run.timeline.render())
    return run


@pytest.mark.slow
def test_the_live_service_bills_only_what_happened(service: Service) -> None:
    run = drive(service)
    check_complete_only_when_final(run)
    check_the_outage(run)
    check_one_line_per_run(run)
    alert = lag_alert(service.settings)
    assert run.timeline.lags and not alert_fired(run.timeline, alert), (
        alert,
        alert_fired(run.timeline, alert),
    )
    check_one_coverage_truth(service)


def check_complete_only_when_final(run: Run) -> None:
    for cb, cov, mark in run.window_checks:
        if cb or cov:
            assert mark is not None and mark >= run.window[1], (cb, cov, mark, run.window)
    assert run.window_checks[0][:2] == (False, False)
    assert run.window_state()[:2] == (True, True), (run.window, attribution_mark(run.svc))


def check_the_outage(run: Run) -> None:
    """Missing for every signal; the gateway's usage across it spread evenly and estimated."""
    silent = intervals_within(run.down_at, run.up_at)
    assert silent, (run.down_at, run.up_at)
    with run.svc.factory() as session:
        statuses = {
            (r.collector, r.interval_start): r.status
            for r in session.scalars(select(SourceCoverage).where(SourceCoverage.interval_start.in_(silent)))
        }
        for t in silent:
            for collector in SIGNALS:
                assert statuses.get((collector, t)) == "missing", (collector, t, statuses)
        check_spread(session, silent)


def check_one_line_per_run(run: Run) -> None:
    """As many run lines as runs counted (a run is logged before it is counted: one more at most), each
    with its fields; never APScheduler's "Running job"; the outage's failures say what failed."""
    for job, n in run.counted.items():
        assert n <= len(run.logged[job]) <= n + 1, (job, n, len(run.logged[job]))
    entries = [e for log in run.svc.logs for e in run_entries(log)]
    fields = {"collector", "source", "status", "window_start", "window_end", "rows", "duration_seconds"}
    for entry in entries:
        assert fields | {"lag_seconds"} <= set(entry), entry
        if entry["status"] == "failed":
            assert entry["error_kind"] and entry["next_retry_at"], entry
    assert "source_unavailable" in {e["error_kind"] for e in entries if e["status"] == "failed"}
    assert not any("Running job" in log.read_text() for log in run.svc.logs)


def check_one_coverage_truth(svc: Service) -> None:
    """The month's coverage from the CLI equals the API's, and the close check refuses with its counts."""
    period = datetime.now(UTC).strftime("%Y-%m")
    start, end = period_window(period)
    from_cli = json.loads(
        subprocess.run(
            cli("collect", "coverage", "--start", iso(start), "--end", iso(end), "--format", "json"),
            cwd=svc.tmp, env=svc.env, capture_output=True, check=True, timeout=120,
        ).stdout
    )  # fmt: skip
    from_api = svc.api("/v1/coverage", period=period).json()
    keys = ("collector", "source", "present", "estimated", "missing", "not_collected")
    assert [{k: s[k] for k in keys} for s in from_cli["sources"]] == [
        {k: s[k] for k in keys} for s in from_api["sources"]
    ]
    for name in ("intervals_in_window", "intervals_attributed", "complete"):
        assert from_cli[name] == from_api[name], name
    assert from_api["complete"] is False
    closed = requests.post(
        f"{svc.api_url}/v1/periods/{period}/close", headers=svc.key | {"Idempotency-Key": "live"}, timeout=60
    )
    assert closed.status_code == 422, closed.text
    for s in from_api["sources"]:
        assert f"{s['collector']}@{s['source']} {s['not_collected']}" in closed.json()["detail"], closed.text
