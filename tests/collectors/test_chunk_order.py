"""collect_window writes each plan's batch of a chunk as soon as its read ends, whatever the plan order,
and a failed read still decides the chunk as before: nothing of it stored, the first plan's error.

The reads are stand-ins (``run.FETCHERS`` replaced) that finish in an order the test sets with events:
which read ends first is timing, which no real source can be made to hold to. The writes are the real
ones, into Postgres.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors import run
from attribution.collectors.batch import Batch
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient
from attribution.config import CollectorName, Settings
from attribution.errors import SourceUnavailableError
from attribution.store.collection_state import SourceCoverage
from attribution.store.tables import KvSample, TenantUsage
from tests.builders import T0, small_cluster_settings

WAIT_SECONDS = 30


def _usage(start: datetime) -> Batch:
    row = {"interval_start": start, "pool": "small", "tenant": "acme", "tier": "0-8k", "requests": 3,
           "prompt_tokens": 100, "generation_tokens": 10, "kv_token_seconds": 1.5}  # fmt: skip
    return Batch(TenantUsage, [row], series={start: 1})


def _kv(start: datetime) -> Batch:
    row = {"interval_start": start, "pool": "small", "engine_id": "vllm-0", "kv_usage_ratio": 0.5,
           "kv_capacity_tokens": 1000, "kv_bytes_per_token": 2048, "requests_running": 1.0,
           "requests_waiting": 0.0}  # fmt: skip
    return Batch(KvSample, [row], series={start: 1})


@pytest.fixture
def settings() -> Settings:
    base = small_cluster_settings()
    return base.model_copy(update={"collection": base.collection.model_copy(update={"chunk_intervals": 60})})


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Callable[..., Batch]]]:
    """The plans' reads, by collector, for the test to set; the GPU plan reads nothing (no rows)."""
    found: dict[str, Callable[..., Batch]] = {}

    def fetcher(name: CollectorName) -> run.Fetcher:
        def read(_: PromClient, __: Settings, ___: Plan, start: datetime, ____: datetime) -> Batch:
            return found[name.value](start)

        return read

    monkeypatch.setattr(run, "FETCHERS", {name: fetcher(name) for name in CollectorName})
    found["gpu"] = lambda start: Batch(run.GpuSample, [])
    yield found


def test_a_chunk_is_written_in_the_order_its_reads_end(
    pg_tx: sessionmaker[Session], settings: Settings, reads: dict[str, Callable[..., Batch]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """KV, planned before the gateway, ends each read only once the gateway's rows of that chunk are
    written (in plan order it would wait for ever): the gateway's go first, then KV's, and what is
    stored is every row and every coverage row, as in plan order."""
    hour = T0 + timedelta(hours=1)
    gateway_written = {T0: threading.Event(), hour: threading.Event()}
    order: list[tuple[str, datetime]] = []
    real = run.write

    def write(
        session: Session, settings: Settings, plan: Plan, batch: Batch, window: run.Window, mode: str
    ) -> int:
        order.append((plan.collector.value, window[0]))
        n = real(session, settings, plan, batch, window, mode)
        if plan.collector is CollectorName.GATEWAY:
            gateway_written[window[0]].set()
        return n

    def kv(start: datetime) -> Batch:
        assert gateway_written[start].wait(WAIT_SECONDS), "KV's read could only end after the gateway's write"
        return _kv(start)

    reads["kv"], reads["gateway"] = kv, _usage
    monkeypatch.setattr(run, "write", write)
    result = run.collect_window(None, settings, pg_tx, T0, T0 + timedelta(hours=2))

    assert [name for name, at in order if at == T0] == ["gpu", "gateway", "kv"]
    assert [name for name, at in order if at == hour] == ["gpu", "gateway", "kv"]
    assert result.chunks == 2
    assert result.rows_by_table == {"gpu_samples": 0, "kv_samples": 2, "tenant_usage": 2}
    with pg_tx() as session:
        assert session.scalar(select(func.count()).select_from(TenantUsage)) == 2
        assert session.scalar(select(func.count()).select_from(KvSample)) == 2
        per_collector = dict(
            session.execute(
                select(SourceCoverage.collector, func.count()).group_by(SourceCoverage.collector)
            ).all()
        )
    assert per_collector == {"gpu": 120, "kv": 120, "gateway": 120}


def test_a_failed_read_rolls_back_its_chunk_and_raises_the_first_plans_error(
    pg_tx: sessionmaker[Session], settings: Settings, reads: dict[str, Callable[..., Batch]],
) -> None:  # fmt: skip
    """In the second chunk the gateway's read fails at once and KV's (planned first) fails after the
    gateway's has: KV's error is raised, as in plan order; the first chunk stays committed, nothing of
    the second is stored."""
    hour = T0 + timedelta(hours=1)
    gateway_failed = threading.Event()

    def kv(start: datetime) -> Batch:
        if start < hour:
            return _kv(start)
        assert gateway_failed.wait(WAIT_SECONDS)
        raise SourceUnavailableError("kv source down")

    def usage(start: datetime) -> Batch:
        if start < hour:
            return _usage(start)
        gateway_failed.set()
        raise SourceUnavailableError("gateway source down")

    reads["kv"], reads["gateway"] = kv, usage
    with pytest.raises(SourceUnavailableError, match="kv source down"):
        run.collect_window(None, settings, pg_tx, T0, T0 + timedelta(hours=2))
    with pg_tx() as session:
        stored = session.scalars(select(TenantUsage.interval_start)).all()
        kv_stored = session.scalars(select(KvSample.interval_start)).all()
        coverage_after = session.scalar(
            select(func.count()).select_from(SourceCoverage).where(SourceCoverage.interval_start >= hour)
        )
    assert [s.replace(tzinfo=T0.tzinfo) for s in stored] == [T0]
    assert [s.replace(tzinfo=T0.tzinfo) for s in kv_stored] == [T0]
    assert coverage_after == 0
