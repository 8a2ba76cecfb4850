"""The simulated cluster (two hours, served by a real Prometheus) and the undisturbed runs every fault
test compares against: what the database holds when nothing went wrong."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from attribution.store.tables import AttributedCost, ClusterCost, PoolCost
from tests.support.postgres import fresh_database
from tests.support.simulated import (
    END,
    START,
    Simulated,
    collection_settings,
    sim_prometheus,
    simulated,
    snapshot,
)

__all__ = ["sim_prometheus", "simulated"]

Rows = dict[str, list[tuple[Any, ...]]]


def attributed(factory: sessionmaker[Session]) -> Rows:
    """Every attributed line, pool cost and cluster cost, in key order."""
    out: Rows = {}
    with factory() as session:
        for model in (AttributedCost, PoolCost, ClusterCost):
            keys = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = [
                tuple(r) for r in session.execute(select(model.__table__).order_by(*keys))
            ]
    return out


@pytest.fixture(scope="package")
def undisturbed(
    simulated: Simulated, sim_prometheus: LocalPrometheus, pg_server: str
) -> Iterator[tuple[Rows, Rows]]:
    """(collected rows, attributed lines) of one backfill of [START, END) and one attribution of it."""
    with fresh_database(pg_server) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = collection_settings(simulated, url, sim_prometheus.url)
        collect_window(PromClient(sim_prometheus.url), settings, factory, START, END)
        run_attribution(settings, factory, START, END)
        yield snapshot(factory), attributed(factory)
        engine.dispose()


@pytest.fixture
def own_prometheus(simulated: Simulated, tmp_path: Path) -> Iterator[LocalPrometheus]:
    """A Prometheus of this test's own (on a copy of the blocks) that it may stop and start."""
    shutil.copytree(simulated.work / "tsdb", tmp_path / "tsdb", ignore=shutil.ignore_patterns("lock", "wal"))
    prom = LocalPrometheus(tmp_path / "tsdb")
    prom.start()
    yield prom
    prom.stop()
