"""A telemetry gap through the attribution job: stored engine samples with work, no usage rows.

Three hours of pool ``small``: acme uses it in hour 0; in hour 1 the engine serves (KV in use, requests
running) for 20 minutes while the gateway delivers nothing; hour 2 is idle. The gap's cost and the idle
its missing tenants would have drawn are ``__unmeasured__``; acme, who did not use hour 1, pays none of
it; and a run over hour 2 alone settles exactly as the run over all three (the gap's weight outside the
run window comes from the stored pool costs).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.store.tables import PoolCost
from tests.builders import (
    T0,
    small_cluster_settings,
)
from tests.support.gap import GAP, MINUTES, load, stored


def test_a_gap_is_unmeasured_and_never_billed_to_an_absent_tenant(pg_tx: sessionmaker[Session]) -> None:
    load(pg_tx)
    settings = small_cluster_settings(line_grain_seconds=3600)
    summary = run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    assert summary.total_usd_micros == summary.cluster_cost_usd_micros
    hour1 = T0 + timedelta(hours=1)
    with pg_tx() as session:
        pool_hour1 = session.scalars(
            select(PoolCost).where(
                PoolCost.interval_start >= hour1, PoolCost.interval_start < hour1 + timedelta(hours=1)
            )
        ).all()
    pool_cost = sum(p.cost_usd_micros for p in pool_hour1)
    gaps = [p for p in pool_hour1 if p.unmeasured_usd_micros]
    assert len(gaps) == len(GAP)
    assert all(p.unmeasured_usd_micros == p.kv_in_use_usd_micros + p.static_usd_micros for p in gaps)
    lines = [r for r in stored(pg_tx) if r[0] == hour1 and r[1] == "small"]
    # the hour's only tenants were the gap's: its whole pool cost (the idle minutes too) is unmeasured
    assert [(r[2], r[7]) for r in lines] == [("__unmeasured__", pool_cost)]
    assert not any(r[2] == "acme" for r in stored(pg_tx) if r[0] == hour1)


def test_a_run_over_part_of_the_period_settles_as_the_whole_run(pg_tx: sessionmaker[Session]) -> None:
    """Hour 2 has no weights: its idle falls back to the period's, acme's (hour 0) and the gap's (hour
    1). Re-run alone, hour 2 reads both from the store; the lines must not move a micro-dollar."""
    load(pg_tx)
    settings = small_cluster_settings(line_grain_seconds=3600)
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    whole = stored(pg_tx)
    hour2 = T0 + timedelta(hours=2)
    hour2_lines = {r[2]: r for r in whole if r[0] == hour2 and r[1] == "small"}
    assert hour2_lines["__unmeasured__"][7] > 0 and hour2_lines["acme"][6] > 0
    run_attribution(settings, pg_tx, hour2, hour2 + timedelta(hours=1))
    assert stored(pg_tx) == whole


def test_the_statement_shows_the_pool_s_gateway_gap(pg_tx: sessionmaker[Session]) -> None:
    from attribution.reports.statement_html import build_statement_html

    load(pg_tx)
    settings = small_cluster_settings(line_grain_seconds=3600)
    run_attribution(settings, pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    with pg_tx() as session:
        html = build_statement_html(session, settings, "2026-11")
    assert f"gateway/pool small missing {len(GAP)} intervals" in html
