"""A short simulated cluster history served by a real Prometheus and a real VictoriaMetrics.

Collector and scheduler tests share it: two hours of the demo cluster (two pools, five tenants, 15 s
scrapes), backfilled with promtool into Prometheus and imported into VictoriaMetrics. Import the
fixtures into a ``conftest.py`` to use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import CollectionConfig, RetryConfig, Settings
from attribution.demo import demo_settings
from attribution.localprom import LocalPrometheus, binaries, create_blocks
from attribution.sim import ClusterSpec, HistoryResult, demo_cluster, generate_history
from attribution.store.collection_state import SourceCoverage
from attribution.store.tables import Coverage, GpuSample, KvSample, TenantUsage
from tests.support import victoria
from tests.support.services import missing_service
from tests.support.victoria import LocalVictoriaMetrics

START = datetime(2026, 11, 2, tzinfo=UTC)
HOURS = 2
END = START + timedelta(hours=HOURS)
SCRAPE_SECONDS = 15
#: Small chunks, so that two hours are many chunks and every test crosses chunk boundaries.
CHUNK_INTERVALS = 10


@dataclass(frozen=True)
class Simulated:
    spec: ClusterSpec
    history: HistoryResult
    work: Path


def collection_settings(sim: Simulated, database_url: str, url: str, **collection: Any) -> Settings:
    """The demo cluster's settings, reading ``url``, with small chunks and quick retries."""
    settings = demo_settings(sim.spec, database_url, url)
    values: dict[str, Any] = {
        "chunk_intervals": CHUNK_INTERVALS,
        "start_at": START,
        "safety_lag_seconds": 60,
        "retry": RetryConfig(attempts=3, initial_delay_seconds=0.05, max_delay_seconds=0.2),
    }
    values.update(collection)
    return settings.model_copy(update={"collection": CollectionConfig(**values)})


def snapshot(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every collected row, in key order; coverage without its ``collected_at``."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with factory() as session:
        for model in (GpuSample, KvSample, TenantUsage, Coverage, SourceCoverage):
            columns = [c for c in model.__table__.columns if c.name != "collected_at"]
            keys = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = [tuple(r) for r in session.execute(select(*columns).order_by(*keys))]
    return out


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    try:
        binaries()
    except Exception as exc:  # pragma: no cover - where make test's install step did not run
        missing_service(
            "Prometheus", f"Prometheus is not installed ({exc}); scripts/ensure-prometheus.sh installs it"
        )
    work = tmp_path_factory.mktemp("simulated")
    spec = demo_cluster(seed=7, scrape_interval_seconds=SCRAPE_SECONDS)
    history = generate_history(spec, START, END, work / "history")
    create_blocks(history.openmetrics_path, work / "tsdb")
    return Simulated(spec, history, work)


@pytest.fixture(scope="session")
def sim_prometheus(simulated: Simulated) -> Iterator[LocalPrometheus]:
    with LocalPrometheus(simulated.work / "tsdb") as prom:
        yield prom


@pytest.fixture(scope="session")
def sim_victoria(simulated: Simulated) -> Iterator[LocalVictoriaMetrics]:
    if victoria.binary() is None:  # pragma: no cover
        missing_service(
            "victoria-metrics",
            "victoria-metrics is not installed; scripts/ensure-prometheus.sh installs it (Debian)",
        )
    with LocalVictoriaMetrics(simulated.work / "vm") as vm:
        vm.load_openmetrics(simulated.history.openmetrics_path)
        yield vm
