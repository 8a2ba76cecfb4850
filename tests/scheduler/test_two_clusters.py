"""Two clusters, one ledger: "east" behind a real Prometheus, "west" behind a real VictoriaMetrics.

The scheduler's jobs are driven tick by tick on a simulated clock (every ten minutes over the simulated
two hours), per cluster: each collector of the cluster, then its attribution. West's VictoriaMetrics is
stopped for an hour of ticks. Throughout the outage east is attributed on time (its attribution watermark
is where its collectors are, the collect target of the tick), while west's stays where the outage caught
it. When west comes back it catches up, and the final ledger (every collected row, every line, pool cost
and cluster cost of both clusters) equals a run of the same ticks with no outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.config import ClusterConfig, Settings
from attribution.ledger.watermark import collected_until, followed_plans
from attribution.localprom import LocalPrometheus
from attribution.scheduler.attribute_loop import attribute_once
from attribution.scheduler.collect_loop import collect_target, run_once
from attribution.store.collection_state import ALL_SOURCES, ATTRIBUTION, CollectorWatermark
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost, ClusterCost, PoolCost
from tests.support import victoria
from tests.support.postgres import fresh_database
from tests.support.services import missing_service
from tests.support.simulated import END, START, Simulated, collection_settings, snapshot
from tests.support.victoria import LocalVictoriaMetrics

LAG = timedelta(seconds=60)
TICK = timedelta(minutes=10)
OUTAGE = (START + timedelta(minutes=30), START + timedelta(minutes=90))
"""West's VictoriaMetrics is down for the ticks in ``(OUTAGE[0], OUTAGE[1]]``: an hour."""


@pytest.fixture(scope="module")
def west_vm(simulated: Simulated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalVictoriaMetrics]:
    """West's own VictoriaMetrics (this test stops and restarts it), loaded with the simulated history."""
    if victoria.binary() is None:  # pragma: no cover
        missing_service("victoria-metrics", "scripts/ensure-prometheus.sh installs it (Debian)")
    with LocalVictoriaMetrics(tmp_path_factory.mktemp("west") / "vm") as vm:
        vm.load_openmetrics(simulated.history.openmetrics_path)
        yield vm


@pytest.fixture
def databases(pg_server: str) -> Iterator[list[sessionmaker[Session]]]:
    """Two fresh, migrated Postgres databases: the outage run's and the reference run's."""
    with fresh_database(pg_server) as first, fresh_database(pg_server) as second:
        engines = []
        for url in (first, second):
            upgrade(url)
            engines.append(make_engine(url))
        yield [make_sessionmaker(e) for e in engines]
        for engine in engines:
            engine.dispose()


def two_clusters(simulated: Simulated, east_url: str, west_url: str) -> Settings:
    base = collection_settings(simulated, "sqlite://", east_url)
    clusters = [
        ClusterConfig(name="east", prometheus_url=east_url),
        ClusterConfig(name="west", prometheus_url=west_url),
    ]
    return base.model_copy(update={"clusters": clusters})


def tick(settings: Settings, factory: sessionmaker[Session], now: datetime) -> dict[str, dict[str, Any]]:
    """One round of every cluster's jobs at ``now``: its collectors, then its attribution."""
    out: dict[str, dict[str, Any]] = {}
    for view in settings.each_cluster():
        plans = followed_plans(view)
        source = view.effective_sources()[0]
        client = PromClient.for_source(source, view.collection.retry, view.collection.max_series_per_query)
        statuses = {run_once(view, factory, plan, client, now=now).status for plan in plans}
        attributed = attribute_once(view, factory, plans, now=now)
        with factory() as session:
            collected = collected_until(session, plans, view.cluster)
            mark = session.get(CollectorWatermark, (ATTRIBUTION, ALL_SOURCES, view.cluster))
        out[view.cluster] = {
            "collect": statuses,
            "attribute": attributed.status,
            "collected_until": collected,
            "attributed_until": None if mark is None else mark.watermark,
        }
    return out


def ledger(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every collected row, line, pool cost and cluster cost of both clusters, in key order."""
    out = snapshot(factory)
    with factory() as session:
        for model in (AttributedCost, PoolCost, ClusterCost):
            keys = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = [
                tuple(r) for r in session.execute(select(model.__table__).order_by(*keys))
            ]
    return out


def ticks() -> Iterator[datetime]:
    now = START + TICK + LAG
    while now <= END + LAG:
        yield now
        now += TICK


def test_a_clusters_outage_never_delays_another_and_it_catches_up_with_nothing_lost(
    simulated: Simulated,
    sim_prometheus: LocalPrometheus,
    west_vm: LocalVictoriaMetrics,
    databases: list[sessionmaker[Session]],
) -> None:
    settings = two_clusters(simulated, sim_prometheus.url, west_vm.url)
    outage_run, reference_run = databases
    for now in ticks():
        tick(settings, reference_run, now)
    outage_ticks = 0
    try:
        for now in ticks():
            down = OUTAGE[0] < now - LAG <= OUTAGE[1]
            if down and west_vm.running:
                west_vm.stop()
            elif not down and not west_vm.running:
                west_vm.start()
            state = tick(settings, outage_run, now)
            target = collect_target(settings, now)
            east, west = state["east"], state["west"]
            # east: collected and attributed up to the tick's target, outage or not
            assert east["collected_until"] == east["attributed_until"] == target, (now, east)
            if down:
                outage_ticks += 1
                assert west["collect"] == {"failed"}, (now, west)
                assert west["attributed_until"] is not None and west["attributed_until"] <= OUTAGE[0], (
                    now,
                    west,
                )
            else:
                assert west["collected_until"] == west["attributed_until"] == target, (now, west)
    finally:
        if not west_vm.running:
            west_vm.start()
    assert outage_ticks == 6  # an hour of ten-minute ticks
    with outage_run() as session:
        failures = session.scalar(
            select(func.count())
            .select_from(CollectorWatermark)
            .where(CollectorWatermark.cluster == "west", CollectorWatermark.last_error_at.is_not(None))
        )
        west_total = session.scalar(
            select(func.sum(ClusterCost.cost_usd_micros)).where(ClusterCost.cluster == "west")
        )
        west_lines = session.scalar(
            select(func.sum(AttributedCost.total_usd_micros)).where(AttributedCost.cluster == "west")
        )
        west_hours = set(
            session.scalars(select(AttributedCost.interval_start).where(AttributedCost.cluster == "west"))
        )
    assert failures == 3  # each of west's collectors saw the outage
    assert west_hours == {START, START + timedelta(hours=1)}  # every hour of west is on the ledger
    assert west_total and west_lines == west_total  # west's lines sum to its bill, exactly
    assert ledger(outage_run) == ledger(reference_run)
