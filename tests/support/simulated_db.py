"""The simulated cluster collected from its Prometheus and attributed, on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.prom import PromClient
from attribution.collectors.run import collect_window
from attribution.config import Settings
from attribution.demo import demo_settings
from attribution.ledger.attribute import run_attribution
from attribution.localprom import LocalPrometheus
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker
from tests.support.postgres import fresh_database
from tests.support.simulated import END, START, Simulated


@pytest.fixture(scope="module")
def simulated_db(
    simulated: Simulated, sim_prometheus: LocalPrometheus, pg_server: str
) -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    with fresh_database(pg_server) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = demo_settings(simulated.spec, url, sim_prometheus.url)
        collect_window(PromClient(sim_prometheus.url), settings, factory, START, END)
        run_attribution(settings, factory, START, END)
        yield settings, factory
        engine.dispose()
