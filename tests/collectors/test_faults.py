"""Faults for real, in the middle of a chunk: Prometheus stopped and restarted, Postgres restarted, backends
terminated. Each time the run fails without advancing, a later run resumes, and the database ends up
exactly as an undisturbed backfill leaves it: nothing lost, nothing twice.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.answers import SeriesColumns
from attribution.collectors.profiles import Plan, plans
from attribution.collectors.prom import PromClient, Series
from attribution.collectors.run import collect_window
from attribution.config import RetryConfig, Settings
from attribution.localprom import LocalPrometheus
from attribution.scheduler.collect_loop import run_once
from attribution.scheduler.outcome import RunOutcome
from attribution.store.collection_state import CollectionLog, CollectorWatermark
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from tests.support.postgres import ThrowawayCluster, fresh_database, running_cluster, terminate_backends
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot

LAG = timedelta(seconds=60)
MIDDLE = START + timedelta(hours=1)


class FaultAt(PromClient):
    """A real client that runs ``fault`` just before its ``at``-th range query (counting from 1)."""

    def __init__(self, url: str, at: int, fault: Callable[[], None], **kw: Any) -> None:
        super().__init__(url, timeout_seconds=5, **kw)
        self.calls, self.at, self.fault = 0, at, fault

    def range_query(self, query: str, start: datetime, end: datetime, step_seconds: int) -> list[Series]:
        self._count()
        return super().range_query(query, start, end, step_seconds)

    def range_columns(self, query: str, start: datetime, end: datetime, step_seconds: int) -> SeriesColumns:
        self._count()  # a range query too (GPU, KV and the counters' boundaries)
        return super().range_columns(query, start, end, step_seconds)

    def range_stamps(
        self, query: str, start: datetime, end: datetime, step_seconds: int
    ) -> list[tuple[dict[str, str], list[int]]]:
        self._count()  # a range query too (the counters' count_over_time)
        return super().range_stamps(query, start, end, step_seconds)

    def _count(self) -> None:
        self.calls += 1
        if self.calls == self.at:
            self.fault()


@pytest.fixture(scope="module")
def reference(simulated: Simulated, sim_prometheus: LocalPrometheus, pg_server: str) -> Iterator[Any]:
    """What an undisturbed backfill of [START, END) stores."""
    with fresh_database(pg_server) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = collection_settings(simulated, url, sim_prometheus.url)
        collect_window(PromClient(sim_prometheus.url), settings, factory, START, END)
        yield snapshot(factory)
        engine.dispose()


@pytest.fixture
def own_prometheus(simulated: Simulated, tmp_path: Path) -> Iterator[LocalPrometheus]:
    """A Prometheus of this test's own (on a copy of the blocks) that it may stop and start."""
    shutil.copytree(simulated.work / "tsdb", tmp_path / "tsdb", ignore=shutil.ignore_patterns("lock", "wal"))
    prom = LocalPrometheus(tmp_path / "tsdb")
    prom.start()
    yield prom
    prom.stop()


def catch_up(
    settings: Settings, factory: sessionmaker[Session], client_for: Callable[[Plan], PromClient]
) -> list[RunOutcome]:
    return [run_once(settings, factory, p, client_for(p), now=END + LAG) for p in plans(settings)]


def assert_tiled_once(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        log = session.scalars(select(CollectionLog).order_by(CollectionLog.window_start)).all()
        marks = session.scalars(select(CollectorWatermark)).all()
    assert {w.watermark for w in marks} == {END}
    for collector in ("gpu", "kv", "gateway"):
        windows = [(r.window_start, r.window_end) for r in log if r.collector == collector]
        assert windows[0][0] == START and windows[-1][1] == END
        assert all(a[1] == b[0] for a, b in pairwise(windows)), f"{collector}: a gap or a window twice"


def test_prometheus_stopped_mid_run_and_restarted_loses_no_interval(
    simulated: Simulated, own_prometheus: LocalPrometheus, pg_factory: sessionmaker[Session], reference: Any
) -> None:
    settings = collection_settings(simulated, "sqlite://", own_prometheus.url)
    gateway = next(p for p in plans(settings) if p.collector.value == "gateway")
    # the gateway's 40th range query falls in the middle of a chunk: stop Prometheus there
    dying = FaultAt(own_prometheus.url, 40, own_prometheus.stop, retry=settings.collection.retry)
    failed = run_once(settings, pg_factory, gateway, dying, now=END + LAG)
    assert failed.status == "failed" and failed.error_kind == "source_unavailable"
    assert START < failed.watermark < END  # the chunks before the fault are committed, and kept
    with pg_factory() as session:
        row = session.get(CollectorWatermark, ("gateway", "prometheus", "default"))
        assert row is not None and row.watermark == failed.watermark and row.consecutive_failures == 1
        assert "unreachable" in (row.last_error or "")
    own_prometheus.start()  # same data directory, same port
    outcomes = catch_up(settings, pg_factory, lambda p: PromClient(own_prometheus.url))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    assert snapshot(pg_factory) == reference
    assert_tiled_once(pg_factory)


def test_prometheus_back_within_the_backoff_costs_nothing_but_time(
    simulated: Simulated, own_prometheus: LocalPrometheus, pg_factory: sessionmaker[Session], reference: Any
) -> None:
    retry = RetryConfig(attempts=8, initial_delay_seconds=0.5, max_delay_seconds=1.0)
    settings = collection_settings(simulated, "sqlite://", own_prometheus.url, retry=retry)

    def bounce() -> None:
        own_prometheus.stop()
        threading.Timer(1.0, own_prometheus.start).start()

    flaky = FaultAt(own_prometheus.url, 7, bounce, retry=retry)
    outcomes = catch_up(
        settings, pg_factory, lambda p: flaky if p.collector.value == "kv" else PromClient(own_prometheus.url)
    )
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    assert flaky.failures >= 1
    assert snapshot(pg_factory) == reference


@pytest.fixture
def own_postgres() -> Iterator[tuple[ThrowawayCluster, str]]:
    """A Postgres cluster of this test's own, migrated, that it may restart."""
    with running_cluster() as cluster, fresh_database(cluster.url) as url:
        upgrade(url)
        yield cluster, url


@pytest.mark.parametrize("fault", ["restart", "terminate"])
def test_postgres_lost_mid_chunk_loses_nothing_and_duplicates_nothing(
    fault: str,
    simulated: Simulated,
    sim_prometheus: LocalPrometheus,
    own_postgres: tuple[ThrowawayCluster, str],
    reference: Any,
) -> None:
    cluster, url = own_postgres
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = collection_settings(simulated, url, sim_prometheus.url)
    database = make_url(url).database or ""

    def lose_the_database() -> None:
        # the run holds the watermark row lock in an open transaction while it queries Prometheus
        if fault == "restart":
            cluster.restart("fast")
        else:
            assert terminate_backends(cluster.url, database) >= 1

    gpu = next(p for p in plans(settings) if p.collector.value == "gpu")
    # 5 range queries per GPU chunk (FB used, free, reserved, util, power): the 33rd is inside the 7th
    failed = run_once(
        settings, factory, gpu, FaultAt(sim_prometheus.url, 33, lose_the_database), now=END + LAG
    )
    assert failed.status == "failed" and failed.error_kind == "database_unavailable"
    with factory() as session:
        row = session.get(CollectorWatermark, ("gpu", "prometheus", "default"))
        assert row is not None and row.watermark == START + timedelta(minutes=60)
        assert row.consecutive_failures == 1
    outcomes = catch_up(settings, factory, lambda p: PromClient(sim_prometheus.url))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    assert snapshot(factory) == reference
    assert_tiled_once(factory)
    engine.dispose()
