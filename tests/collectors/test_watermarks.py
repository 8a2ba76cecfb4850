"""Watermarked collection on the simulated cluster, on Postgres, from Prometheus and VictoriaMetrics.

A backfill and a sequence of scheduled runs over the same window store the same rows; both backends
store the same rows, and the counters match the simulator's ground truth; every interval has coverage,
and the chunk log shows each window collected once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.profiles import plans
from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings
from attribution.localprom import LocalPrometheus
from attribution.scheduler.attribute_loop import attribute_once, dirty_spans
from attribution.scheduler.collect_loop import run_once
from attribution.store.collection_state import (
    CollectionLog,
    CollectorWatermark,
    all_watermarks,
    dirty_windows,
    lock_watermark,
    source_coverage,
)
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import GpuSample, TenantUsage
from tests.support.postgres import fresh_database
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot
from tests.support.victoria import LocalVictoriaMetrics

LAG = timedelta(seconds=60)


@pytest.fixture
def new_db(pg_server: str) -> Iterator[Any]:
    """A factory of fresh, migrated Postgres databases, each disposed of after the test."""
    made: list[tuple[Any, Any]] = []

    def make() -> sessionmaker[Session]:
        context = fresh_database(pg_server)
        url = context.__enter__()
        upgrade(url)
        engine = make_engine(url)
        made.append((context, engine))
        return make_sessionmaker(engine)

    yield make
    for context, engine in made:
        engine.dispose()
        context.__exit__(None, None, None)


def scheduled_runs(settings: Settings, factory: sessionmaker[Session], url: str, every: timedelta) -> int:
    """Run every plan as the scheduler would, with the clock moving ``every`` between runs, until END."""
    clients = {p.key: PromClient(url) for p in plans(settings)}
    now, runs = START + LAG, 0
    while True:
        for plan in plans(settings):
            outcome = run_once(settings, factory, plan, clients[plan.key], now=now)
            assert outcome.status in {"ok", "idle"}, outcome
        runs += 1
        if now == END + LAG:
            return runs
        now = min(now + every, END + LAG)


def test_a_backfill_equals_a_sequence_of_scheduled_runs(
    simulated: Simulated, sim_prometheus: LocalPrometheus, new_db: Any
) -> None:
    backfilled, scheduled = new_db(), new_db()
    settings = collection_settings(simulated, "sqlite://", sim_prometheus.url)
    collect_window(PromClient(sim_prometheus.url), settings, backfilled, START, END)
    # 7-minute steps against 10-interval chunks: run windows and chunks straddle each other
    assert scheduled_runs(settings, scheduled, sim_prometheus.url, timedelta(minutes=7)) > 10
    want = snapshot(backfilled)
    assert all(want.values())
    assert snapshot(scheduled) == want
    with scheduled() as session:
        marks = {(w.collector, w.source): w.watermark for w in session.scalars(select(CollectorWatermark))}
    assert marks == {(c, "prometheus"): END for c in ("gpu", "kv", "gateway")}


def test_each_window_is_collected_once_and_windows_tile_the_range(
    simulated: Simulated, sim_prometheus: LocalPrometheus, new_db: Any
) -> None:
    factory = new_db()
    settings = collection_settings(simulated, "sqlite://", sim_prometheus.url)
    scheduled_runs(settings, factory, sim_prometheus.url, timedelta(minutes=13))
    with factory() as session:
        log = session.scalars(select(CollectionLog).order_by(CollectionLog.window_start)).all()
    for collector in ("gpu", "kv", "gateway"):
        windows = [(r.window_start, r.window_end) for r in log if r.collector == collector]
        assert windows[0][0] == START and windows[-1][1] == END
        assert all(a[1] == b[0] for a, b in pairwise(windows)), "gap or overlap"
        assert all(end - start <= timedelta(minutes=10) for start, end in windows)


def test_a_run_resumes_where_the_last_one_committed_and_idles_when_caught_up(
    simulated: Simulated, sim_prometheus: LocalPrometheus, new_db: Any
) -> None:
    factory = new_db()
    settings = collection_settings(simulated, "sqlite://", sim_prometheus.url)
    plan = next(p for p in plans(settings) if p.collector.value == "gateway")
    client = PromClient(sim_prometheus.url)
    first = run_once(settings, factory, plan, client, now=END + LAG, max_chunks=2)
    assert (first.status, first.chunks, first.watermark) == ("partial", 2, START + timedelta(minutes=20))
    rest = run_once(settings, factory, plan, client, now=END + LAG)
    assert (rest.status, rest.chunks, rest.watermark) == ("ok", 10, END)
    again = run_once(settings, factory, plan, client, now=END + LAG)
    assert (again.status, again.chunks, again.rows) == ("idle", 0, 0)


def test_a_locked_watermark_makes_the_run_skip(
    simulated: Simulated, sim_prometheus: LocalPrometheus, new_db: Any
) -> None:
    factory = new_db()
    settings = collection_settings(simulated, "sqlite://", sim_prometheus.url)
    plan = next(p for p in plans(settings) if p.collector.value == "gpu")
    client = PromClient(sim_prometheus.url)
    run_once(settings, factory, plan, client, now=START + LAG + timedelta(minutes=5))
    with factory() as holder:
        assert lock_watermark(holder, *plan.key) is not None  # another replica's transaction
        outcome = run_once(settings, factory, plan, client, now=END + LAG)
        holder.rollback()
    assert (outcome.status, outcome.chunks) == ("busy", 0)


def test_prometheus_and_victoriametrics_store_the_same_rows(
    simulated: Simulated, sim_prometheus: LocalPrometheus, sim_victoria: LocalVictoriaMetrics, new_db: Any
) -> None:
    from_prom, from_vm = new_db(), new_db()
    for factory, url in ((from_prom, sim_prometheus.url), (from_vm, sim_victoria.url)):
        settings = collection_settings(simulated, "sqlite://", url)
        collect_window(PromClient(url), settings, factory, START, END)
    prom, vm = snapshot(from_prom), snapshot(from_vm)
    # board power is a float mean stored in whole milliwatts: the backends' sums may differ in the last
    # bit, so a value may round the other way; within 1 mW it is the same reading
    power = [c.name for c in GpuSample.__table__.columns if c.name != "collected_at"].index(
        "power_milliwatts"
    )
    for p_row, v_row in zip(prom["gpu_samples"], vm["gpu_samples"], strict=True):
        a_mw, b_mw = p_row[power], v_row[power]
        assert (a_mw is None) == (b_mw is None) and (a_mw is None or abs(a_mw - b_mw) <= 1), (p_row, v_row)
    for rows in (prom["gpu_samples"], vm["gpu_samples"]):
        rows[:] = [r[:power] + r[power + 1 :] for r in rows]
    assert prom.keys() == vm.keys()
    for table in prom:
        assert len(prom[table]) == len(vm[table]), table
        for a, b in zip(prom[table], vm[table], strict=True):
            assert [x if isinstance(x, float) else 0.0 for x in a] == pytest.approx(
                [x if isinstance(x, float) else 0.0 for x in b], rel=1e-9
            ), table
            assert [x for x in a if not isinstance(x, float)] == [x for x in b if not isinstance(x, float)]


@pytest.mark.parametrize("backend", ["prometheus", "victoria"])
def test_requests_and_tokens_match_ground_truth_on_both_backends(
    backend: str, simulated: Simulated, request: pytest.FixtureRequest, new_db: Any
) -> None:
    server = request.getfixturevalue("sim_prometheus" if backend == "prometheus" else "sim_victoria")
    factory = new_db()
    settings = collection_settings(simulated, "sqlite://", server.url)
    collect_window(PromClient(server.url), settings, factory, START, END)
    last = END - timedelta(seconds=settings.interval_seconds)  # its closing scrape is at END - 15 s
    truth: dict[tuple[datetime, str, str, str], tuple[int, int, int]] = {}
    with simulated.history.truth_intervals_path.open() as fh:
        for row in csv.DictReader(fh):
            start = datetime.fromisoformat(row["interval_start"].replace("Z", "+00:00"))
            counts = (int(row["requests"]), int(row["prompt_tokens"]), int(row["generation_tokens"]))
            if any(counts) and start < last:
                truth[(start, row["pool"], row["tenant"], row["tier"])] = counts
    with factory() as session:
        rows = session.execute(
            select(
                TenantUsage.interval_start,
                TenantUsage.pool,
                TenantUsage.tenant,
                TenantUsage.tier,
                TenantUsage.requests,
                TenantUsage.prompt_tokens,
                TenantUsage.generation_tokens,
            ).where(TenantUsage.interval_start < last)
        ).all()
    assert sum(c[0] for c in truth.values()) > 500
    assert {tuple(r[:4]): tuple(r[4:]) for r in rows if any(r[4:])} == truth


def test_every_interval_has_coverage_and_a_window_without_data_is_missing(
    simulated: Simulated, sim_prometheus: LocalPrometheus, new_db: Any
) -> None:
    factory = new_db()
    settings = collection_settings(simulated, "sqlite://", sim_prometheus.url)
    after = END + timedelta(minutes=30)  # nothing was simulated here
    collect_window(PromClient(sim_prometheus.url), settings, factory, END - timedelta(minutes=30), after)
    with factory() as session:
        rows = source_coverage(session, END - timedelta(minutes=30), after)
    counts = {(r.collector, r.status): r.intervals for r in rows}
    for collector in ("gpu", "kv", "gateway"):
        present = counts.get((collector, "present"), 0)
        missing = counts.get((collector, "missing"), 0)
        assert present + missing == 60, collector
        assert present >= 30, collector  # gauges linger 5 minutes (lookback) past the last sample
        assert missing >= 25, collector


def test_a_backfill_re_attributes_only_the_windows_it_touched(
    simulated: Simulated, sim_prometheus: LocalPrometheus, new_db: Any
) -> None:
    factory = new_db()
    settings = collection_settings(simulated, "sqlite://", sim_prometheus.url)
    windows: list[tuple[datetime, datetime]] = []

    def hook(s: Settings, f: sessionmaker[Session], start: datetime, end: datetime) -> None:
        windows.append((start, end))

    scheduled_runs(settings, factory, sim_prometheus.url, timedelta(hours=1))
    attribute_once(settings, factory, plans(settings), now=END + LAG, attribute=hook)
    assert windows == [(START, END)]
    # a gap in the first hour is re-collected: only that hour is attributed again, not everything since
    gap = (START + timedelta(minutes=15), START + timedelta(minutes=35))
    collect_window(PromClient(sim_prometheus.url), settings, factory, *gap)
    with factory() as session:
        marks = {(w.collector, w.source): w.watermark for w in all_watermarks(session)}
        dirty = [(d.window_start, d.window_end) for d in dirty_windows(session)]
    assert dirty[0][0] == gap[0] and dirty[-1][1] == gap[1]  # one row per chunk written, tiling the gap
    assert all(a[1] == b[0] for a, b in pairwise(dirty))
    assert set(marks.values()) == {END}  # no watermark moves: the collectors' nor the attribution job's
    attribute_once(settings, factory, plans(settings), now=END + LAG, attribute=hook)
    assert windows[1:] == [(START, START + timedelta(hours=1))]
    with factory() as session:
        assert dirty_windows(session) == []  # cleared once done
    attribute_once(settings, factory, plans(settings), now=END + LAG, attribute=hook)
    assert len(windows) == 2  # nothing left to do


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        ([], []),
        ([(15, 35)], [(0, 60)]),  # aligned out to the hour
        ([(15, 35), (50, 70)], [(0, 120)]),  # touching hours merge
        ([(15, 35), (200, 210)], [(0, 60), (180, 240)]),
        ([(130, 500)], [(120, 240)]),  # cut at the watermark (240): the forward run does the rest
        ([(300, 400)], []),  # wholly ahead of the watermark
        ([(0, 240)], [(0, 120), (120, 240)]),  # at most a span (two hours) per piece
    ],
)
def test_dirty_spans(windows: list[tuple[int, int]], expected: list[tuple[int, int]]) -> None:
    def at(minutes: int) -> datetime:
        return START + timedelta(minutes=minutes)

    got = dirty_spans([(at(a), at(b)) for a, b in windows], at(240), 3600, timedelta(hours=2))
    assert got == [(at(a), at(b)) for a, b in expected]
