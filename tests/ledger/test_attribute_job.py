"""The attribution job over stored telemetry, on Postgres and SQLite: exact, complete, repeatable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.reports.chargeback import build_chargeback
from attribution.store.tables import AttributedCost, ClusterCost
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.two_hours import MINUTES, consistent_usage_ratios, lines, usage_rows

# 4 GPUs x $2.99/h x 2 h, by hand: 23.92 USD
BILL_USD_MICROS = 23_920_000


def load(factory: sessionmaker[Session]) -> None:
    usage = usage_rows()
    store(factory, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, consistent_usage_ratios(usage)), usage)


def test_lines_sum_exactly_to_the_hand_computed_bill(pg_tx: sessionmaker[Session]) -> None:
    load(pg_tx)
    settings = small_cluster_settings()
    summary = run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    assert summary.total_usd_micros == summary.cluster_cost_usd_micros == BILL_USD_MICROS
    got = lines(pg_tx)
    assert sum(sum(r[4:]) for r in got) == BILL_USD_MICROS
    # the never-sampled fourth GPU is a quarter of the bill, on an explicit __unmeasured__ line, to within
    # the one micro-dollar per interval that largest-remainder rounding may move
    unmeasured = sum(r[7] for r in got if r[2] == "__unmeasured__" and r[1] == "__cluster__")
    assert abs(unmeasured - BILL_USD_MICROS / 4) <= MINUTES
    with pg_tx() as session:
        cluster_rows = session.scalars(select(ClusterCost)).all()
    assert len(cluster_rows) == MINUTES
    assert all(r.gpus_sampled == 3 and r.gpus_in_inventory == 4 for r in cluster_rows)


@pytest.mark.parametrize("grain_seconds", [60, 3600])
def test_each_grain_conserves_its_own_cost(pg_tx: sessionmaker[Session], grain_seconds: int) -> None:
    """Per-minute lines sum to each minute's bill; per-hour lines (the default) to each hour's."""
    load(pg_tx)
    settings = small_cluster_settings(line_grain_seconds=grain_seconds)
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    per_grain: dict[Any, int] = {}
    for r in lines(pg_tx):
        per_grain[r[0]] = per_grain.get(r[0], 0) + sum(r[4:])
    bill: dict[Any, int] = {}
    with pg_tx() as session:
        for r in session.scalars(select(ClusterCost)):
            grain = r.interval_start - timedelta(seconds=r.interval_start.timestamp() % grain_seconds)
            bill[grain] = bill.get(grain, 0) + r.cost_usd_micros
    assert len(per_grain) == MINUTES * 60 // grain_seconds
    assert per_grain == bill


def test_rerunning_changes_nothing_and_postgres_equals_sqlite(
    pg_tx: sessionmaker[Session], sqlite_factory: sessionmaker[Session]
) -> None:
    settings = small_cluster_settings()
    window = (T0, T0 + timedelta(minutes=MINUTES))
    for factory in (pg_tx, sqlite_factory):
        load(factory)
        run_attribution(settings, factory, *window)
    first = lines(pg_tx)
    run_attribution(settings, pg_tx, *window)
    assert lines(pg_tx) == first
    assert lines(sqlite_factory) == first


def test_the_long_context_tenant_pays_by_memory_time(pg_tx: sessionmaker[Session]) -> None:
    load(pg_tx)
    run_attribution(small_cluster_settings(), pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    with pg_tx() as session:
        cb = build_chargeback(session, T0, T0 + timedelta(minutes=MINUTES), 60)
    by_tenant = {t.tenant: t for t in cb.tenants}
    acme, umbrella = by_tenant["acme"], by_tenant["umbrella"]
    # umbrella holds 20M token-seconds in 40 minutes, acme ~1.06M in each of 119. With the engine's usage
    # consistent with those token-seconds, KV-in-use cost is proportional to memory-time: the ratio of
    # costs equals the ratio of token-seconds up to cent rounding.
    ratio_ts = umbrella.kv_token_seconds / acme.kv_token_seconds
    ratio_kv = umbrella.kv_in_use_cents / acme.kv_in_use_cents
    assert ratio_ts > 5
    assert abs(ratio_kv / ratio_ts - 1) < 0.01
    assert sum(t.total_cents for t in cb.tenants) == cb.total_cents == round(BILL_USD_MICROS / 10_000)
    for t in cb.tenants:
        assert t.kv_in_use_cents + t.static_cents + t.idle_cents + t.unmeasured_cents == t.total_cents


def test_a_monthly_overhead_is_in_the_bill_and_shared(pg_tx: sessionmaker[Session]) -> None:
    load(pg_tx)
    # $720 a month over November's 720 hours is exactly $1 an hour: $2 over this two-hour window
    settings = small_cluster_settings(overheads=[{"name": "network", "usd_per_month": "720"}])
    summary = run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    assert summary.cluster_cost_usd_micros == BILL_USD_MICROS + 2_000_000
    overhead = [r for r in lines(pg_tx) if r[1] == "__overhead__"]
    assert sum(sum(r[4:]) for r in overhead) == 2_000_000
    assert {r[2] for r in overhead} == {"acme", "umbrella"}


def test_hour_by_hour_runs_settle_like_one_run_of_the_whole_window(pg_tx: sessionmaker[Session]) -> None:
    """Idle of an hour nobody used falls back to the pool's weights over the period. A run over one
    hour reads the other hours' weights from the stored lines, so once every hour is stored, re-running
    any hour gives exactly the lines of a single run over the whole window."""
    usage = [r for r in usage_rows() if not 60 <= (r["interval_start"] - T0).total_seconds() // 60 < 120]
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, consistent_usage_ratios(usage)), usage)
    settings = small_cluster_settings()
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    whole = lines(pg_tx)
    quiet_hour = [r for r in whole if r[0] >= T0 + timedelta(hours=1) and r[1] == "small"]
    assert any(r[6] for r in quiet_hour if r[2] in ("acme", "umbrella"))  # idle went to the period's tenants
    for hour in (1, 0, 1):
        run_attribution(settings, pg_tx, T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1))
    assert lines(pg_tx) == whole


def test_a_run_is_widened_to_whole_settlement_windows(pg_tx: sessionmaker[Session]) -> None:
    load(pg_tx)
    summary = run_attribution(
        small_cluster_settings(), pg_tx, T0 + timedelta(minutes=10), T0 + timedelta(minutes=11)
    )
    assert (summary.start, summary.end) == (T0, T0 + timedelta(hours=1))


def test_tiers_sum_to_the_bill_and_long_context_costs_more_per_request(
    pg_tx: sessionmaker[Session],
) -> None:
    from attribution.reports.tiers import tier_costs

    load(pg_tx)
    settings = small_cluster_settings()
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    with pg_tx() as session:
        tiers = tier_costs(session, T0, T0 + timedelta(minutes=MINUTES), settings.tiers.names)
    by_tier = {t.tier: t for t in tiers}
    assert sum(t.total_usd_micros for t in tiers) == BILL_USD_MICROS
    assert sum(t.total_cents for t in tiers) == BILL_USD_MICROS // 10_000
    assert [t.tier for t in tiers][:2] == ["0-4k", "128k+"]  # configured order, then special lines
    long_ctx, short_ctx = by_tier["128k+"], by_tier["0-4k"]
    assert long_ctx.usd_per_request is not None and short_ctx.usd_per_request is not None
    # umbrella is present one minute in three, so acme alone carries static cost in the other two: per
    # request it pays less than memory-time alone would say, but the long-context request still costs more
    assert long_ctx.usd_per_request > short_ctx.usd_per_request
    assert long_ctx.gib_hours_per_request > 10 * short_ctx.gib_hours_per_request


def test_subnormal_token_seconds_are_stored_as_zero_and_the_analyst_views_read_them(
    pg_tx: sessionmaker[Session],
) -> None:
    """A gateway figure of 5e-324 token-seconds (subnormal) would make ``daily_tenant_costs`` raise
    "value out of range: underflow" (its GiB-hour division rounds to zero): it is stored as 0.0."""
    usage = [*usage_rows(), create_usage_row(0, "tiny", "0-4k", 5e-324)]
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, consistent_usage_ratios(usage)), usage)
    run_attribution(small_cluster_settings(), pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    with pg_tx() as session:
        stored = session.execute(
            select(AttributedCost.kv_token_seconds, AttributedCost.kv_byte_seconds).where(
                AttributedCost.tenant == "tiny"
            )
        ).all()
        view = session.execute(text("SELECT memory_gib_hours FROM daily_tenant_costs WHERE tenant = 'tiny'"))
        memory_gib_hours = view.all()
    assert stored and all(row == (0.0, 0.0) for row in stored)
    assert memory_gib_hours == [(0.0,)]
