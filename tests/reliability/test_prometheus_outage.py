"""Prometheus down for a simulated hour: the scheduler's runs fail and keep their watermarks, the first
run after it returns fills the gap, and nothing is lost: every interval is covered once, the stored rows
and the attributed lines equal an undisturbed run's.

The scheduler's own job functions (:func:`attribution.scheduler.app.collect_job` and ``attribution_job``) are
called as APScheduler calls them, every five minutes of a fake clock over the two simulated hours, and the
real Prometheus process is stopped for twelve of those runs (an hour) and started again on the same data
and port. (Its data was backfilled beforehand, as a Prometheus with remote storage or a Thanos that was
down only for queries has it; a Prometheus that also missed its scrapes has a hole no collector can fill,
and the coverage table records that hole as ``missing``.)
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import RetryConfig
from attribution.ledger.watermark import followed_plans
from attribution.localprom import LocalPrometheus
from attribution.scheduler.app import attribution_job, collect_job
from attribution.scheduler.collect_loop import collect_target
from attribution.scheduler.selfmetrics import CollectorMetrics
from attribution.store.collection_state import CollectionLog, CollectorWatermark, SourceCoverage
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot
from tests.support.snapshots import Rows, attributed

EVERY = timedelta(minutes=5)
LAG = timedelta(seconds=60)
DOWN, UP = START + timedelta(minutes=30), START + timedelta(minutes=90)
INTERVALS = int((END - START).total_seconds() // 60)


@pytest.mark.slow
def test_an_hour_without_prometheus_loses_no_interval(
    simulated: Simulated,
    own_prometheus: LocalPrometheus,
    pg_factory: sessionmaker[Session],
    undisturbed: tuple[Rows, Rows],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    retry = RetryConfig(attempts=2, initial_delay_seconds=0.05, max_delay_seconds=0.05)
    settings = collection_settings(simulated, "sqlite://", own_prometheus.url, retry=retry)
    now = START
    metrics = CollectorMetrics(lambda: now)
    jobs = [collect_job(settings, pg_factory, p, metrics, lambda: now) for p in followed_plans(settings)]
    attribute = attribution_job(settings, pg_factory, metrics, lambda: now)
    statuses: Counter[str] = Counter()
    behind_at_return, recovered_seconds = timedelta(0), -1.0
    for tick in range(1, 25):  # the scheduled times, START + 5 min + lag ... END + lag
        now = START + tick * EVERY + LAG
        target = collect_target(settings, now)
        if target == DOWN + EVERY:
            own_prometheus.stop()
        if target == UP + EVERY:
            behind_at_return = target - min(watermarks(pg_factory).values())
            own_prometheus.start()
            began = time.monotonic()
        outcomes = [job() for job in jobs]
        statuses.update(f"{o.status}:{o.error_kind or ''}" for o in outcomes)
        outcome = attribute()
        assert outcome.status in ("ok", "idle"), outcome
        marks = watermarks(pg_factory)
        if DOWN + EVERY <= target <= UP:  # down: nobody advances, the attribution job waits for them
            assert all(o.status == "failed" and o.error_kind == "source_unavailable" for o in outcomes)
            assert set(marks.values()) == {DOWN}
        else:  # up: each run catches up to its target, the one after the outage included
            assert [o.status for o in outcomes] == ["ok"] * 3, outcomes
            assert set(marks.values()) == {target}
            if recovered_seconds < 0 < behind_at_return.total_seconds():
                recovered_seconds = time.monotonic() - began
    assert statuses["failed:source_unavailable"] == 12 * 3 and statuses["ok:"] == 12 * 3

    # zero intervals lost: each collector's coverage has every minute once, present or estimated
    with pg_factory() as session:
        coverage = session.scalars(select(SourceCoverage)).all()
        log = session.scalars(select(CollectionLog).order_by(CollectionLog.window_start)).all()
    for collector in ("gpu", "kv", "gateway"):
        mine = [c for c in coverage if c.collector == collector]
        assert len({c.interval_start for c in mine}) == len(mine) == INTERVALS
        assert {c.status for c in mine} <= {"present", "estimated"}, collector
        windows = [(r.window_start, r.window_end) for r in log if r.collector == collector]
        assert windows[0][0] == START and windows[-1][1] == END
        assert all(a[1] == b[0] for a, b in pairwise(windows)), f"{collector}: a gap or a window twice"
    rows, lines = undisturbed
    assert snapshot(pg_factory) == rows
    assert attributed(pg_factory) == lines
    assert behind_at_return == timedelta(minutes=65)
    print(  # the figures of docs/reliability.md (pytest -s)
        f"\nprometheus outage: {dict(statuses)}; behind at return {behind_at_return}; caught up in one run "
        f"({recovered_seconds:.2f} s); rows compared {sum(len(v) for v in rows.values())}, "
        f"lines compared {sum(len(v) for v in lines.values())}"
    )


def watermarks(factory: sessionmaker[Session]) -> dict[str, datetime]:
    with factory() as session:
        return {
            w.collector: w.watermark
            for w in session.scalars(select(CollectorWatermark))
            if w.collector != "attribution"
        }
