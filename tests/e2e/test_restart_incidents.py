"""Recovery incidents on the simulator's ``restart`` scenario, end to end: simulator -> Prometheus ->
collectors -> Postgres -> attribution (which records the incidents) -> report and API.

Two pools fail an hour in: ``mistral-small-24b`` for 300 s (queued at the gateway), ``llama-3.1-8b`` for
130 s (failing). The same cluster without outages is the healthy control.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.app import create_app
from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings
from attribution.demo import demo_settings
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.reports.incidents import incident_list
from attribution.sim.cluster import ClusterSpec
from attribution.sim.history import generate_history
from attribution.sim.scenarios import restart
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost, PoolCost, RecoveryIncident
from tests.support.incidents import job_and_reference
from tests.support.postgres import fresh_database

START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(hours=2)
SCRAPE_SECONDS = 15


@dataclass
class Run:
    settings: Settings
    factory: sessionmaker[Session]
    truth: dict[str, Any]


def _run(spec: ClusterSpec, pg_server: str, work: Any) -> Iterator[Run]:
    history = generate_history(spec, START, END, work / "history")
    create_blocks(history.openmetrics_path, work / "tsdb")
    with fresh_database(pg_server) as url, LocalPrometheus(work / "tsdb") as prom:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        # lines per interval, so that an incident's cost can be checked against its lines
        settings = demo_settings(spec, url, prom.url).model_copy(update={"line_grain_seconds": 60})
        collect_window(PromClient(prom.url), settings, factory, START, END)
        run_attribution(settings, factory, START, END)
        yield Run(settings, factory, json.loads(history.truth_path.read_text()))
        engine.dispose()


@pytest.fixture(scope="module")
def restarted(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover - only where make test's install step did not run
        pytest.skip(f"Prometheus is not installed ({exc}); `make test` installs it")
    yield from _run(restart(seed=0), pg_server, tmp_path_factory.mktemp("restart"))


@pytest.fixture(scope="module")
def healthy(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover
        pytest.skip(f"Prometheus is not installed ({exc}); `make test` installs it")
    spec = restart(seed=0)
    spec = dataclasses.replace(spec, pools=tuple(dataclasses.replace(p, outages=()) for p in spec.pools))
    yield from _run(spec, pg_server, tmp_path_factory.mktemp("healthy"))


def _stored(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with factory() as session:
        r = RecoveryIncident
        rows = session.execute(
            select(
                r.pool, r.start_at, r.end_at, r.cause, r.gpu_count, r.gpu_uuids, r.cost_usd_micros
            ).order_by(r.pool, r.start_at)
        )
        return [tuple(row) for row in rows]


def test_each_outage_is_one_incident_within_one_scrape_interval_of_the_truth(restarted: Run) -> None:
    with restarted.factory() as session:
        found = incident_list(session, START, END).incidents
    outages = {
        p["pool"]: (datetime.fromisoformat(o["start"]), o["down_seconds"])
        for p in restarted.truth["pools"]
        for o in p["outages"]
    }
    assert sorted(i.pool for i in found) == sorted(outages)
    scrape = timedelta(seconds=SCRAPE_SECONDS)
    for incident in found:
        start, down = outages[incident.pool]
        assert abs(incident.start - start) <= scrape
        assert abs(incident.end - (start + timedelta(seconds=down))) <= scrape
        assert incident.cause.startswith("engine_absent")
        pool = next(p for p in restarted.truth["pools"] if p["pool"] == incident.pool)
        assert incident.gpu_count == pool["gpus"]


def test_an_incident_costs_exactly_the_pool_lines_of_its_intervals(restarted: Run) -> None:
    with restarted.factory() as session:
        found = incident_list(session, START, END).incidents
        for incident in found:
            window = (
                incident.start <= AttributedCost.interval_start,
                AttributedCost.interval_start < incident.end,
            )
            lines = session.scalar(
                select(func.sum(AttributedCost.total_usd_micros)).where(
                    AttributedCost.pool == incident.pool, *window
                )
            )
            pool_window = (incident.start <= PoolCost.interval_start, PoolCost.interval_start < incident.end)
            pool_cost = session.scalar(
                select(func.sum(PoolCost.cost_usd_micros)).where(PoolCost.pool == incident.pool, *pool_window)
            )
            assert incident.cost_usd_micros == lines == pool_cost > 0
            # the pool's GPUs at their price for the incident's time, within a micro-dollar an interval
            price = int(Decimal(restarted.settings.gpu_prices[0].usd_per_gpu_hour) * 1_000_000)
            by_price = incident.gpu_count * price * incident.duration_seconds // 3600
            assert abs(incident.cost_usd_micros - by_price) <= incident.duration_seconds // 60


def test_recovery_is_exactly_the_incidents_cost_on_a_platform_line(restarted: Run) -> None:
    """Done-when of issue 18: the lines' ``recovery`` is the incidents' cost to the micro-dollar, each
    incident's on the ``__recovery__`` line of its pool and intervals (the default policy), and nothing
    of it is idle or static; the pool costs say the same."""
    a, p = AttributedCost, PoolCost
    with restarted.factory() as session:
        found = incident_list(session, START, END).incidents
        assert found
        for incident in found:
            inside = (
                a.pool == incident.pool,
                incident.start <= a.interval_start,
                a.interval_start < incident.end,
            )
            rows = session.execute(
                select(a.tenant, func.sum(a.recovery_usd_micros)).where(*inside).group_by(a.tenant)
            ).all()
            # tenants may have usage-only rows there (requests counted, nothing held): no money
            by_tenant = {tenant: amount for tenant, amount in rows if amount}
            assert by_tenant == {"__recovery__": incident.cost_usd_micros}
            others = session.scalar(
                select(func.sum(a.total_usd_micros - a.recovery_usd_micros)).where(*inside)
            )
            assert others == 0
            pool = session.scalar(
                select(func.sum(p.recovery_usd_micros)).where(
                    p.pool == incident.pool,
                    incident.start <= p.interval_start,
                    p.interval_start < incident.end,
                )
            )
            assert pool == incident.cost_usd_micros
        total = session.scalar(select(func.sum(a.recovery_usd_micros)))
        assert total == sum(i.cost_usd_micros for i in found) > 0


def test_re_attributing_replaces_the_incidents(restarted: Run) -> None:
    before = _stored(restarted.factory)
    run_attribution(restarted.settings, restarted.factory, START, END)
    run_attribution(restarted.settings, restarted.factory, START + timedelta(hours=1), END)
    assert _stored(restarted.factory) == before


def test_the_api_lists_them_for_a_finance_key(restarted: Run) -> None:
    from attribution.store.apikeys import create_key

    with restarted.factory() as session:
        token = create_key(session, ["finance"], "finance").token
        session.commit()
    client = TestClient(create_app(restarted.settings, restarted.factory))
    headers = {"Authorization": f"Bearer {token}"}
    params = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-02T02:00:00Z", "pool": "mistral-small-24b"}
    body = client.get("/v1/incidents", params=params, headers=headers).json()
    assert [i["pool"] for i in body["incidents"]] == ["mistral-small-24b"]
    assert body["total_cost_usd_micros"] == body["incidents"][0]["cost_usd_micros"] > 0
    assert client.get("/v1/incidents", params=params).status_code == 401


def test_no_incident_on_a_healthy_cluster(healthy: Run) -> None:
    assert _stored(healthy.factory) == []
    with healthy.factory() as session:
        assert session.scalar(select(func.sum(AttributedCost.recovery_usd_micros))) == 0


def test_the_job_finds_what_the_object_detector_finds_over_its_own_scan(restarted: Run) -> None:
    """The job detects from the rows it already read, as columns; the object detector over
    ``detection_inputs`` (a scan of its own) is the reference: the same parts, causes, GPUs."""
    with restarted.factory() as session:
        got, expected = job_and_reference(session, restarted.settings, START, END)
    assert got == expected
    assert {c for i in got for c in i.causes} == {"engine_absent", "reloading"}
