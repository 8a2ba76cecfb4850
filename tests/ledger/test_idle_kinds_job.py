"""The three kinds of idle as the job stores them: on every line, in the statement frozen at close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.model.statement import COMPONENTS, IDLE_PART_FIELDS
from attribution.model.vocabulary import OVERHEAD_POOL, UNALLOCATED_POOL
from attribution.reports.chargeback import build_chargeback
from attribution.reports.lineitems import LineItem
from attribution.reports.monthly import build_statement_report
from attribution.reports.period_statement import build_statement
from attribution.reports.statement_views import line_component_cents
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost, PoolCost, StatementLine
from tests.builders import (
    T0,
    create_gpu_rows,
    create_kv_rows,
    create_usage_row,
    small_cluster_settings,
    store,
)
from tests.support.two_hours import MINUTES, consistent_usage_ratios, usage_rows

LINE_ITEM_FIELDS = (
    *("tenant", "pool", "tier", "requests", "prompt_tokens", "generation_tokens", "kv_token_seconds"),
    *("kv_byte_seconds", "total_usd_micros", "total_cents", *(f"{c}_usd_micros" for c in COMPONENTS)),
    *IDLE_PART_FIELDS,
)


def _parts(row: AttributedCost | StatementLine) -> list[int]:
    return [getattr(row, f) for f in IDLE_PART_FIELDS]


def test_every_stored_line_holds_its_idle_as_the_three_kinds(pg_tx: sessionmaker[Session]) -> None:
    usage = usage_rows()
    store(pg_tx, create_gpu_rows(MINUTES), create_kv_rows(MINUTES, consistent_usage_ratios(usage)), usage)
    run_attribution(small_cluster_settings(), pg_tx, T0, T0 + timedelta(minutes=MINUTES))
    with pg_tx() as session:
        rows = session.scalars(select(AttributedCost)).all()
        pools = session.scalars(select(PoolCost)).all()
    pool_idle = sum(p.idle_usd_micros for p in pools)
    unused = sum(p.idle_usd_micros for p in pools if p.idle_usd_micros > p.kv_free_usd_micros)
    assert rows and sum(r.idle_usd_micros for r in rows) > 0
    for r in rows:
        cold, warm, headroom = _parts(r)
        assert cold + warm + headroom == r.idle_usd_micros, (r.pool, r.tenant)
        assert min(cold, warm, headroom) >= 0
        if r.pool in (UNALLOCATED_POOL, OVERHEAD_POOL):
            assert warm == headroom == 0
        else:
            assert cold == 0
    # no gaps here, so all pool idle arrives on lines: the minutes nobody used (their idle is more than
    # their free KV: static too) are warm, the free KV of the minutes that served is headroom
    assert sum(r.idle_warm_usd_micros for r in rows) == unused > 0
    assert sum(r.kv_headroom_usd_micros for r in rows) == pool_idle - unused > 0
    with pg_tx() as session:
        cb = build_chargeback(session, T0, T0 + timedelta(minutes=MINUTES), 60)
    kinds = ("idle_cold_cents", "idle_warm_cents", "kv_headroom_cents")
    for t in cb.tenants:
        assert sum(getattr(t, k) for k in kinds) == t.idle_cents, t.tenant
        assert t.kv_in_use_cents + t.static_cents + t.idle_cents + t.unmeasured_cents == t.total_cents
    assert sum(t.total_cents for t in cb.tenants) == round(sum(r.total_usd_micros for r in rows) / 10_000)
    assert all(sum(getattr(t, k) for t in cb.tenants) > 0 for k in ("idle_warm_cents", "kv_headroom_cents"))


def test_a_closed_statement_freezes_the_kinds_and_their_cents_sum_to_idle(
    pg_tx: sessionmaker[Session],
) -> None:
    nov, dec = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    hours = 30 * 24
    usage = [create_usage_row(h * 60, "acme", "0-4k", 4e7, start=nov) for h in range(0, hours, 2)]
    gpus = create_gpu_rows(hours * 60, step_minutes=60, start=nov)
    store(pg_tx, gpus, create_kv_rows(hours * 60, 0.3, step_minutes=60, start=nov), usage)
    settings = small_cluster_settings(interval_seconds=3600)
    run_attribution(settings, pg_tx, nov, dec)
    with unit_of_work(pg_tx) as session:
        close_period(session, "2026-11", 3600, "k")
    with pg_tx() as session:
        frozen = session.scalars(select(StatementLine)).all()
        statement = build_statement(session, "2026-11")
        report = build_statement_report(session, settings, "2026-11").to_dict()
    assert frozen
    for s in frozen:
        assert sum(_parts(s)) == s.idle_usd_micros
    # the engine shows KV in use every hour, so an hour without tenant data is a gap, not an unused pool:
    # all the pool's idle is free KV while serving
    assert sum(s.kv_headroom_usd_micros for s in frozen) > 0
    assert sum(s.idle_warm_usd_micros for s in frozen) == 0
    for line in statement.lines:
        idle_cents = line_component_cents(line)[COMPONENTS.index("idle")]
        item = LineItem(**{f: getattr(line, f) for f in LINE_ITEM_FIELDS}, estimated=False)
        assert sum(item.idle_part_cents(idle_cents)) == idle_cents
    # the statement's JSON: every row (tenants, tiers, pools, totals) has kinds summing to its idle cents
    kinds = ("idle_cold_cents", "idle_warm_cents", "kv_headroom_cents")
    rows = [report["total"], report["usage"], *report["tenants"], *report["tenant_tiers"], *report["pools"]]
    for row in rows:
        assert sum(row[k] for k in kinds) == row["idle_cents"], row["key"]
    assert report["total"]["kv_headroom_cents"] > 0
    assert report["total"]["total_cents"] == sum(s.total_cents for s in frozen)
