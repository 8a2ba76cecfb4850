"""Invariant 5 with hypothesis: whatever late data arrives, an issued statement never changes, and the
statement plus every correction since always equals what the period's inputs attribute now."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.store.migrate import upgrade
from attribution.store.session import make_engine, make_sessionmaker, unit_of_work
from attribution.store.tables import AttributedCost, CorrectionLine, Period, StatementLine, TenantUsage
from attribution.store.writes import upsert
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store

NOV, DEC = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
HOURS = 720
MONEY = ("kv_in_use_usd_micros", "static_usd_micros", "idle_usd_micros", "unmeasured_usd_micros")

late_usage = st.lists(
    st.tuples(
        st.integers(0, HOURS - 1),
        st.sampled_from(["acme", "umbrella", "late-1", "late-2"]),
        st.sampled_from(["0-4k", "128k+"]),
        st.floats(1e5, 1e9),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(late_usage, min_size=1, max_size=3))
def test_statement_plus_corrections_always_equals_the_current_attribution(batches: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'p.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        cfg = small_cluster_settings(interval_seconds=3600)
        usage = [create_usage_row(h * 60, "acme", "0-4k", 3e7, start=NOV) for h in range(0, HOURS, 2)]
        store(
            factory,
            create_gpu_rows(HOURS * 60, step_minutes=60, start=NOV),
            create_kv_rows(HOURS * 60, 0.2, step_minutes=60, start=NOV),
            usage,
        )
        run_attribution(cfg, factory, NOV, DEC)
        with unit_of_work(factory) as session:
            close_period(session, "2026-11", 3600, "close-1")
        frozen = _statement(factory)
        for batch in batches:
            rows = [create_usage_row(h * 60, t, tier, w, start=NOV) for h, t, tier, w in batch]
            with unit_of_work(factory) as session:
                upsert(session, TenantUsage, rows)
            run_attribution(cfg, factory, NOV, DEC)
            assert _statement(factory) == frozen
            assert _billed(factory) == _current(factory)
        engine.dispose()


def _statement(factory: sessionmaker[Session]) -> tuple:
    with factory() as session:
        period = session.get(Period, "2026-11")
        rows = session.execute(select(*StatementLine.__table__.columns).order_by(StatementLine.tenant)).all()
        return period.content_hash, [tuple(r) for r in rows]


def _current(factory: sessionmaker[Session]) -> dict:
    out: dict = defaultdict(lambda: [0] * len(MONEY))
    with factory() as session:
        for line in session.scalars(select(AttributedCost).where(AttributedCost.interval_start < DEC)):
            for i, field in enumerate(MONEY):
                out[(line.pool, line.tenant, line.tier)][i] += getattr(line, field)
    return {k: v for k, v in out.items() if any(v)}


def _billed(factory: sessionmaker[Session]) -> dict:
    out: dict = defaultdict(lambda: [0] * len(MONEY))
    with factory() as session:
        for s in session.scalars(select(StatementLine).where(StatementLine.charge_class == "usage")):
            for i, field in enumerate(MONEY):
                out[(s.pool, s.tenant, s.tier)][i] += getattr(s, field)
        for c in session.scalars(select(CorrectionLine).where(CorrectionLine.charge_period == "2026-11")):
            for i, field in enumerate(MONEY):
                out[(c.pool, c.tenant, c.tier)][i] += getattr(c, field)
    return {k: v for k, v in out.items() if any(v)}
