"""Attribution stops at the collectors' watermark: the hour being collected is a partial line, not
billed ahead of time, and grows as collection advances; ``attribute`` clears the dirty marks it redid."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.ledger.watermark import followed_plans
from attribution.reports.chargeback import build_chargeback
from attribution.store.collection_state import advance_watermark, dirty_windows, ensure_watermark, mark_dirty
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost, ClusterCost, PoolCost
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)

MINUTES = 60


def collected_until(factory: sessionmaker[Session], until: datetime) -> None:
    """Every plan the scheduler follows has committed up to ``until``."""
    settings = small_cluster_settings()
    with unit_of_work(factory) as session:
        for plan in followed_plans(settings):
            ensure_watermark(session, *plan.key, T0, T0)
            advance_watermark(session, *plan.key, until, until)


def stored(factory: sessionmaker[Session]) -> tuple[datetime | None, set[int | None], int]:
    with factory() as session:
        last = session.scalar(select(func.max(ClusterCost.interval_start)))
        covered = set(session.scalars(select(AttributedCost.covered_seconds).distinct()))
        pools = session.scalar(select(func.count()).select_from(PoolCost)) or 0
    return last, covered, pools


def test_the_hour_being_collected_is_a_partial_line_that_grows(pg_tx: sessionmaker[Session]) -> None:
    settings = small_cluster_settings()
    usage = [create_usage_row(m, "acme", "0-4k", 1_000_000.0) for m in range(MINUTES)]
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, [0.2] * MINUTES), usage)
    hour = (T0, T0 + timedelta(hours=1))

    collected_until(pg_tx, T0 + timedelta(minutes=42))
    summary = run_attribution(settings, pg_tx, *hour)
    assert summary.attributed_until == T0 + timedelta(minutes=42)
    last, covered, pools = stored(pg_tx)
    assert last == T0 + timedelta(minutes=41) and covered == {42 * 60} and pools == 42
    with pg_tx() as session:
        cb = build_chargeback(session, *hour, settings.interval_seconds)
    assert not cb.complete and cb.intervals_attributed == 42
    # 42 minutes of 4 GPUs at $2.99/h (to the micro-dollar each minute): nothing for the 18 not collected
    assert abs(cb.cluster_cost_usd_micros - 4 * 2_990_000 * 42 // 60) <= 42

    collected_until(pg_tx, T0 + timedelta(minutes=60))
    run_attribution(settings, pg_tx, *hour)
    last, covered, pools = stored(pg_tx)
    assert last == T0 + timedelta(minutes=59) and covered == {3600} and pools == 60
    with pg_tx() as session:
        cb = build_chargeback(session, *hour, settings.interval_seconds)
    # every interval attributed; not `complete`: no coverage rows are stored here, so the followed sources
    # (they have watermarks) never collected any interval, as the close check counts them
    assert cb.intervals_attributed == cb.intervals_in_window and cb.not_collected == 3 * 60


def test_nothing_is_attributed_before_any_collection_and_stale_lines_go(
    pg_tx: sessionmaker[Session],
) -> None:
    settings = small_cluster_settings()
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, [0.2] * MINUTES), [])
    run_attribution(settings, pg_tx, T0, T0 + timedelta(hours=1))  # no watermark: up to now
    assert stored(pg_tx)[0] == T0 + timedelta(minutes=59)
    collected_until(pg_tx, T0)  # then the scheduler starts at T0: nothing is collected after it
    summary = run_attribution(settings, pg_tx, T0, T0 + timedelta(hours=1))
    assert summary.attributed_until is None and summary.lines == 0
    assert stored(pg_tx) == (None, set(), 0)


def test_attribute_clears_the_dirty_windows_it_redid(pg_tx: sessionmaker[Session]) -> None:
    settings = small_cluster_settings()
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, [0.2] * MINUTES), [])
    with unit_of_work(pg_tx) as session:
        mark_dirty(session, T0, T0 + timedelta(minutes=30), "backfill", T0)
        mark_dirty(session, T0 + timedelta(hours=2), T0 + timedelta(hours=3), "backfill", T0)
    run_attribution(settings, pg_tx, T0, T0 + timedelta(hours=1))
    with pg_tx() as session:
        left = [(d.window_start, d.window_end) for d in dirty_windows(session)]
    assert left == [(T0 + timedelta(hours=2), T0 + timedelta(hours=3))]


def test_a_watermark_behind_a_closed_period_neither_unbills_it_nor_credits_it(
    pg_tx: sessionmaker[Session],
) -> None:
    """A followed source whose watermark lies inside a closed period (a source added later with
    ``collection.start_at`` in the past, or a reset watermark) must not make a re-run of that period
    delete its lines and bill their negative as corrections in the open period: the closed period was
    complete when it closed."""
    from attribution.ledger.close import close_period
    from attribution.store.tables import CorrectionLine
    from attribution.timeutil import period_window

    settings = small_cluster_settings()
    usage = [create_usage_row(m, "acme", "0-4k", 1_000_000.0) for m in range(MINUTES)]
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, [0.2] * MINUTES), usage)
    month = period_window("2026-11")
    run_attribution(settings, pg_tx, *month)  # no watermark yet: the whole month, then closed
    with unit_of_work(pg_tx) as session:
        close_period(session, "2026-11", settings.interval_seconds, "t")
    collected_until(pg_tx, T0 + timedelta(minutes=30))  # a source starting inside November
    run_attribution(settings, pg_tx, T0, T0 + timedelta(hours=1))  # e.g. a dirty window redone
    with pg_tx() as session:
        lines = session.scalar(
            select(func.count())
            .select_from(AttributedCost)
            .where(
                AttributedCost.interval_start >= T0 + timedelta(minutes=30),
                AttributedCost.interval_start < month[1],
            )
        )
        credited = session.scalar(select(func.coalesce(func.sum(CorrectionLine.total_usd_micros), 0)))
    assert credited == 0
    assert lines and lines > 0
