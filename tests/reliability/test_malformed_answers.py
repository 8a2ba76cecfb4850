"""Malformed Prometheus answers and a label-cardinality explosion, in the middle of a run: a clear error
naming the query, the chunk's transaction rolled back, the watermark where the last good chunk left it,
and, once the source answers properly again, a database equal to an undisturbed backfill.

The answers are spoiled by a proxy in front of a real Prometheus (:mod:`tests.support.faultproxy`), the
only way to have a real server send them. Each fault hits the second range query of the second GPU chunk:
the first chunk is committed, the second has read part of its answers when the bad one arrives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.profiles import plans
from attribution.collectors.prom import PromClient
from attribution.config import RetryConfig, Settings
from attribution.localprom import LocalPrometheus
from attribution.scheduler.collect_loop import run_once
from attribution.store.collection_state import CollectionLog, CollectorWatermark, SourceCoverage
from attribution.store.tables import GpuSample
from tests.support.faultproxy import FaultProxy
from tests.support.simulated import CHUNK_INTERVALS, END, START, Simulated, collection_settings, snapshot
from tests.support.snapshots import Rows

NOW = END + timedelta(seconds=60)
FIRST_CHUNK_END = START + timedelta(minutes=CHUNK_INTERVALS)
#: 5 range queries per GPU chunk (power is the 5th): requests 1-5 are chunk 1, request 7 the 2nd of chunk 2
BEFORE_THE_FAULT = ["pass"] * 6
LIMIT = 1000

#: fault -> (error code, words the message must hold)
FAULTS = {
    "truncate": ("source_unavailable", "malformed answer"),
    "html": ("source_unavailable", "malformed answer (HTTP 502)"),
    "login": ("source_unavailable", "malformed answer (HTTP 200)"),
    "wrong-type": ("source_query_error", "gave a scalar result; expected matrix"),
    f"explode:{LIMIT + 500}": ("source_query_error", "max_series_per_query"),
}


@pytest.fixture
def proxy(sim_prometheus: LocalPrometheus) -> Iterator[FaultProxy]:
    with FaultProxy(sim_prometheus.url) as p:
        yield p


def settings_for(simulated: Simulated, proxy: FaultProxy) -> Settings:
    # one attempt: a retry would only ask the proxy again; retries are test_faults' subject
    return collection_settings(
        simulated, "sqlite://", proxy.url, retry=RetryConfig(attempts=1), max_series_per_query=LIMIT
    )


def client_for(settings: Settings) -> PromClient:
    """One query at a time: the faults are placed by request number, which concurrent reads of a chunk's
    signals (max_concurrent_queries) would leave to chance."""
    source = settings.effective_sources()[0].model_copy(update={"max_concurrent_queries": 1})
    return PromClient.for_source(source, settings.collection.retry, settings.collection.max_series_per_query)


def state(factory: sessionmaker[Session]) -> tuple[int, int, int, list[tuple[object, ...]]]:
    with factory() as session:
        rows = session.scalar(select(func.count()).select_from(GpuSample)) or 0
        coverage = session.scalar(select(func.count()).select_from(SourceCoverage)) or 0
        logged = session.scalar(select(func.count()).select_from(CollectionLog)) or 0
        marks = [(w.collector, w.watermark) for w in session.scalars(select(CollectorWatermark))]
    return rows, coverage, logged, marks


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_malformed_answer_fails_the_chunk_whole_and_the_next_run_heals(
    fault: str,
    simulated: Simulated,
    proxy: FaultProxy,
    pg_factory: sessionmaker[Session],
    undisturbed: tuple[Rows, Rows],
) -> None:
    settings = settings_for(simulated, proxy)
    gpu = next(p for p in plans(settings) if p.collector.value == "gpu")
    proxy.faults.extend([*BEFORE_THE_FAULT, fault])
    outcome = run_once(settings, pg_factory, gpu, client_for(settings), now=NOW)
    code, words = FAULTS[fault]
    assert outcome.status == "failed" and outcome.error_kind == code, outcome
    assert words in (outcome.error or ""), outcome.error
    assert "DCGM_FI_DEV_FB_FREE" in (outcome.error or "")  # names the query that got the bad answer
    assert outcome.chunks == 1 and outcome.watermark == FIRST_CHUNK_END
    # exactly the first chunk is stored: its rows, its coverage, its log line; the watermark at its end
    rows, coverage, logged, marks = state(pg_factory)
    first_chunk = [r for r in undisturbed[0]["gpu_samples"] if r[0] < FIRST_CHUNK_END]
    assert rows == len(first_chunk) > 0
    assert coverage == CHUNK_INTERVALS and logged == 1
    assert marks == [("gpu", FIRST_CHUNK_END)]
    with pg_factory() as session:
        row = session.get(CollectorWatermark, ("gpu", "prometheus", "default"))
        assert row is not None and row.consecutive_failures == 1 and words in (row.last_error or "")
    # the source answers properly again: every collector catches up to an undisturbed backfill
    assert not proxy.faults
    outcomes = [run_once(settings, pg_factory, p, client_for(settings), now=NOW) for p in plans(settings)]
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    assert snapshot(pg_factory) == undisturbed[0]


@pytest.mark.slow
def test_infinite_values_are_dropped_as_missing_never_stored(
    simulated: Simulated, proxy: FaultProxy, pg_factory: sessionmaker[Session], undisturbed: tuple[Rows, Rows]
) -> None:
    """A ``+Inf`` (a ratio over a zero) is no measurement: the point is dropped like NaN, the interval's
    coverage says a series is missing, and nothing infinite reaches a table (it would poison every sum)."""
    settings = settings_for(simulated, proxy)
    gpu = next(p for p in plans(settings) if p.collector.value == "gpu")
    proxy.faults.extend(["pass"] * 5 + ["inf"])  # every fb_used_bytes value of chunk 2 is +Inf, -Inf or NaN
    outcome = run_once(settings, pg_factory, gpu, client_for(settings), now=NOW)
    assert outcome.status == "ok", outcome
    reference = undisturbed[0]["gpu_samples"]
    stored = snapshot(pg_factory)["gpu_samples"]
    second_chunk = (FIRST_CHUNK_END, FIRST_CHUNK_END + timedelta(minutes=CHUNK_INTERVALS))
    assert not [r for r in stored if second_chunk[0] <= r[0] < second_chunk[1]]
    assert stored == [r for r in reference if not second_chunk[0] <= r[0] < second_chunk[1]]
    assert all(math.isfinite(v) for r in stored for v in r if isinstance(v, float))
    coverage = [
        r for r in snapshot(pg_factory)["source_coverage"] if second_chunk[0] <= r[2] < second_chunk[1]
    ]
    assert len(coverage) == CHUNK_INTERVALS and {r[3] for r in coverage} == {"missing"}


def test_a_cardinality_explosion_under_the_limit_is_collected(
    simulated: Simulated, proxy: FaultProxy, pg_factory: sessionmaker[Session]
) -> None:
    # the guard refuses only what is over the limit: a series count at it is read as usual
    settings = settings_for(simulated, proxy)
    proxy.faults.append(f"explode:{LIMIT - 50}")
    client = client_for(settings)
    series = client.range_query(
        "DCGM_FI_DEV_FB_USED", START + timedelta(minutes=1), START + timedelta(minutes=2), 60
    )
    assert LIMIT - 50 < len(series) <= LIMIT
