"""The simulated cluster (two hours, served by a real Prometheus) and the undisturbed runs every fault
test compares against: what the database holds when nothing went wrong."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
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
from tests.support.snapshots import Rows, attributed

__all__ = ["sim_prometheus", "simulated"]


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
