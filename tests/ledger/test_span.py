"""A span attributed window by window with each window's reads made ahead (ledger/span.py): the stored
ledger is exactly what the windows' runs one after another store, the reads ahead are really used (on
their own thread), reads of another window are never used, and an error of a window read ahead is
raised by that window's run, in its place, after the windows before it are committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.errors import ConfigError
from attribution.ledger import attribute as job
from attribution.ledger import span
from attribution.ledger.span import attribute_span, windows_of
from attribution.ledger.watermark import followed_plans
from attribution.ledger.window_reads import read_window
from attribution.scheduler.attribute_loop import attribute_once
from attribution.store.collection_state import ALL_SOURCES, ATTRIBUTION, DirtyWindow, ensure_watermark
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost, AttributionRun, ClusterCost, DailyLineSum, PoolCost
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)

HOURS = 4
STEP = timedelta(hours=1)
END = T0 + HOURS * STEP
OUTPUTS = (AttributedCost, PoolCost, ClusterCost, DailyLineSum)


def load(factory: sessionmaker[Session], unused: range = range(150, 170), start: datetime = T0) -> None:
    """Four hours from ``start`` of a pool whose tenants change from hour to hour, nobody using it in the
    minutes ``unused`` (by default an idle stretch in hour 3)."""
    minutes = HOURS * 60
    ratios = [0.0 if m in unused else 0.2 + (m % 7) / 20 for m in range(minutes)]
    usage = [
        create_usage_row(
            m, f"t{(m // 60 + k) % 5}", ("0-4k", "32k-128k")[k % 2], 1e4 * (1 + k + m % 3), start=start
        )
        for m in range(minutes)
        if ratios[m] > 0
        for k in range(3)
    ]
    gpu, kv = create_gpu_rows(minutes, start=start), create_kv_rows(minutes, ratios, start=start)
    store(factory, gpu, kv, usage)


def ledger(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every output row in key order (the daily rollups without their row ids)."""
    out = {}
    with factory() as session:
        for model in OUTPUTS:
            columns = [c for c in model.__table__.columns if c.name != "id"]
            keys = list(model.__table__.primary_key.columns) or columns
            out[model.__tablename__] = [tuple(r) for r in session.execute(select(*columns).order_by(*keys))]
    return out


def empty_outputs(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as session:
        for model in (*OUTPUTS, AttributionRun):
            session.execute(model.__table__.delete())


def watermarks(factory: sessionmaker[Session], plans: list[Any], attributed: Any, collected: Any) -> None:
    """The attribution job's watermark at ``attributed``, every collector's at ``collected``."""
    with unit_of_work(factory) as session:
        ensure_watermark(session, ATTRIBUTION, ALL_SOURCES, attributed, collected)
        for plan in plans:
            ensure_watermark(session, *plan.key, collected, collected)


def mark(start: Any, end: Any) -> DirtyWindow:
    return DirtyWindow(
        window_start=start, window_end=end, marked_at=end, reason="backfill", cluster="default"
    )


@pytest.fixture
def reads_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Each read of a window: the thread it ran on and the window's start, whoever made it."""
    seen: list[tuple[str, Any]] = []

    def watched(settings: Any, factory: Any, session: Any, start: Any, end: Any) -> Any:
        seen.append((threading.current_thread().name, start))
        return read_window(settings, factory, session, start, end)

    monkeypatch.setattr(job, "read_window", watched)
    monkeypatch.setattr(span, "read_window", watched)
    yield seen


@pytest.mark.parametrize(
    "early_below_rows", [job.EARLY_READS_MAX_USAGE_ROWS, 0], ids=["early", "after-engine"]
)
def test_a_span_stores_what_its_windows_store_run_one_after_another(
    pg_factory: sessionmaker[Session],
    reads_seen: list[tuple[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    early_below_rows: int,
) -> None:
    """Whether the next window's reads begin before this one's engine (a small window) or after it."""
    monkeypatch.setattr(job, "EARLY_READS_MAX_USAGE_ROWS", early_below_rows)
    settings = small_cluster_settings()
    load(pg_factory)
    for w_start, w_end in windows_of(T0, END, STEP):
        job.run_attribution(settings, pg_factory, w_start, w_end)
    one_by_one = ledger(pg_factory)
    assert len(one_by_one["attributed_costs"]) > HOURS  # several tenants and tiers each hour
    assert all(thread == "MainThread" for thread, _ in reads_seen)

    empty_outputs(pg_factory)
    reads_seen.clear()
    done: list[Any] = []
    summaries = attribute_span(settings, pg_factory, T0, END, STEP, after_each=done.append)

    assert ledger(pg_factory) == one_by_one
    assert done == summaries and [s.start for s in summaries] == [T0 + h * STEP for h in range(HOURS)]
    assert all(s.total_usd_micros == s.cluster_cost_usd_micros for s in summaries)
    # the first window is read by its run; every later one ahead, on the read-ahead thread, once
    assert reads_seen[0] == ("MainThread", T0)
    assert [(t.split("_")[0], s) for t, s in reads_seen[1:]] == [
        ("read-ahead", T0 + h * STEP) for h in range(1, HOURS)
    ]
    assert not [t for t in threading.enumerate() if t.name == "heap-trimmer"]


def test_the_schedulers_catch_up_reads_each_window_ahead_and_stores_what_runs_one_by_one_store(
    pg_factory: sessionmaker[Session], reads_seen: list[tuple[str, Any]]
) -> None:
    """A scheduler that was down for four hours attributes them window by window (an hour each here),
    each window's reads made while the one before is written: the same ledger as the runs one by one."""
    settings = small_cluster_settings(scheduler={"attribution_max_window_seconds": 3600})
    load(pg_factory)
    for w_start, w_end in windows_of(T0, END, STEP):
        job.run_attribution(settings, pg_factory, w_start, w_end)
    one_by_one = ledger(pg_factory)
    empty_outputs(pg_factory)
    reads_seen.clear()
    plans = followed_plans(settings)
    watermarks(pg_factory, plans, T0, END)  # attributed up to T0, every collector up to END

    outcome = attribute_once(settings, pg_factory, plans, now=END + timedelta(minutes=1))

    assert (outcome.status, outcome.chunks, outcome.watermark) == ("ok", HOURS, END)
    assert ledger(pg_factory) == one_by_one
    assert reads_seen[0] == ("MainThread", T0)
    assert [(t.split("_")[0], s) for t, s in reads_seen[1:]] == [
        ("read-ahead", T0 + h * STEP) for h in range(1, HOURS)
    ]


def test_a_run_does_not_use_reads_of_another_window(pg_factory: sessionmaker[Session]) -> None:
    settings = small_cluster_settings()
    load(pg_factory)
    job.run_attribution(settings, pg_factory, T0, T0 + STEP)
    expected = ledger(pg_factory)
    empty_outputs(pg_factory)
    with unit_of_work(pg_factory) as session:  # the second hour's reads, offered to the first hour's run
        other = read_window(settings, pg_factory, session, T0 + STEP, T0 + 2 * STEP)
    job.run_attribution(settings, pg_factory, T0, T0 + STEP, reads=other)
    assert ledger(pg_factory) == expected


def test_a_mark_read_ahead_is_cleared_and_one_committed_after_the_reads_stays(
    pg_factory: sessionmaker[Session],
) -> None:
    """The reads ahead take the dirty marks before the telemetry: those marks are the run's to clear; a
    mark committed after them (late data the reads may not have seen) is left for the next run."""
    settings = small_cluster_settings()
    load(pg_factory)
    hour_2 = (T0 + STEP, T0 + 2 * STEP)
    with unit_of_work(pg_factory) as session:
        session.add(mark(*hour_2))
    with unit_of_work(pg_factory) as session:
        reads = read_window(settings, pg_factory, session, *hour_2)
    with unit_of_work(pg_factory) as session:  # after the reads: not among them
        session.add(mark(*hour_2))
    job.run_attribution(settings, pg_factory, *hour_2, reads=reads)
    with pg_factory() as session:
        left = session.execute(select(DirtyWindow.id)).scalars().all()
    assert len(reads.redone) == 1 and left and reads.redone[0] not in left


def test_an_error_in_a_window_read_ahead_is_raised_by_its_run_after_the_windows_before_commit(
    pg_factory: sessionmaker[Session],
) -> None:
    """Hour 3 samples a GPU type missing from the inventory: its reads ahead fail; hours 1 and 2 are
    committed and the span stops at hour 3 with the job's own error, as runs one by one would."""
    settings = small_cluster_settings()
    load(pg_factory)
    stray = create_gpu_rows(60, pool_gpus=0, unallocated=1, start=T0 + 2 * STEP)
    for row in stray:
        row.update(gpu_uuid="GPU-stray", gpu_type="A100-80GB", gpu_model_name="NVIDIA A100-SXM4-80GB")
    store(pg_factory, stray, [], [])
    with pytest.raises(ConfigError, match="'A100-80GB' were sampled in this window but are not in the"):
        attribute_span(settings, pg_factory, T0, END, STEP)
    with pg_factory() as session:
        runs = session.execute(select(AttributionRun.window_start).order_by(AttributionRun.window_start))
        assert list(runs.scalars()) == [T0, T0 + STEP]
    # neither the reads nor the heap's trimmer outlived it
    assert not [t for t in threading.enumerate() if t.name.startswith(("read-ahead", "heap-trimmer"))]


def test_on_sqlite_a_span_reads_each_window_in_its_own_run(
    sqlite_factory: sessionmaker[Session], reads_seen: list[tuple[str, Any]]
) -> None:
    settings = small_cluster_settings()
    load(sqlite_factory)
    summaries = attribute_span(settings, sqlite_factory, T0, END, STEP)
    assert [s.start for s in summaries] == [T0 + h * STEP for h in range(HOURS)]
    assert [t for t, _ in reads_seen] == ["MainThread"] * HOURS


def test_windows_of_cuts_a_span_and_refuses_an_empty_step() -> None:
    assert windows_of(T0, T0 + timedelta(minutes=150), STEP) == [
        (T0, T0 + STEP),
        (T0 + STEP, T0 + 2 * STEP),
        (T0 + 2 * STEP, T0 + timedelta(minutes=150)),
    ]
    assert windows_of(T0, T0, STEP) == []
    with pytest.raises(ValueError, match="longer than 0 s"):
        windows_of(T0, END, timedelta(0))
