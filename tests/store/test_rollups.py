"""Rollups (``daily_line_sums``) always equal the sums of the stored lines of their day, whatever sequence
of attribution runs, re-runs over overlapping windows, late usage, period closes and restatements wrote
them; on Postgres and SQLite."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.attribute import run_attribution
from attribution.ledger.close import close_period
from attribution.store.rollups import SUMMED, line_columns, summed_columns, touched_days
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost, DailyLineSum, Period, TenantUsage
from attribution.store.writes import upsert
from tests.builders import create_gpu_rows, create_kv_rows, create_usage_row, small_cluster_settings, store

START = datetime(2026, 11, 1, tzinfo=UTC)
HOURS = 744  # November (closable) and the first day of December
FLOATS = ("kv_token_seconds", "kv_byte_seconds")

run = st.tuples(st.integers(0, HOURS - 1), st.integers(1, 96))
usage = st.lists(
    st.tuples(st.integers(0, HOURS - 1), st.sampled_from(["acme", "umbrella", "late"]), st.floats(1e5, 1e9)),
    max_size=4,
)
step = st.one_of(
    st.tuples(st.just("run"), run, usage), st.tuples(st.just("close"), st.just((0, 0)), st.just([]))
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(step, min_size=1, max_size=5))
def test_rollups_equal_the_sums_of_their_lines(db_factory: sessionmaker[Session], steps: list) -> None:
    cfg = small_cluster_settings(interval_seconds=3600)
    store(
        db_factory,
        create_gpu_rows(HOURS * 60, step_minutes=60, start=START),
        create_kv_rows(HOURS * 60, 0.2, step_minutes=60, start=START),
        [create_usage_row(h * 60, "acme", "0-4k", 3e7, start=START) for h in range(0, HOURS, 5)],
    )
    for kind, (first, hours), late in steps:
        if kind == "close":
            with db_factory() as session:
                found = session.get(Period, "2026-11")
                closed = found is not None and found.status == "closed"
            if not closed:
                run_attribution(cfg, db_factory, START, _end())
                with unit_of_work(db_factory) as session:
                    close_period(session, "2026-11", 3600, "close-rollups")
        else:
            rows = [create_usage_row(h * 60, t, "0-4k", w, start=START) for h, t, w in late]
            with unit_of_work(db_factory) as session:
                upsert(session, TenantUsage, rows)
            begin = START + timedelta(hours=first)
            run_attribution(cfg, db_factory, begin, min(begin + timedelta(hours=hours), _end()))
        _assert_rollups_match(db_factory)


def _end() -> datetime:
    return START + timedelta(hours=HOURS)


def _assert_rollups_match(factory: sessionmaker[Session]) -> None:
    names = summed_columns()
    expected: dict[tuple, list] = defaultdict(lambda: [0] * len(names) + [False, 0, 0, 0])
    with factory() as session:
        for line in session.scalars(select(AttributedCost)):
            day = line.interval_start.replace(hour=0)
            sums = expected[(day, line.pool, line.tenant, line.tier)]
            for i, name in enumerate(names):
                sums[i] += getattr(line, name)
            sums[-4] = sums[-4] or line.estimated
            sums[-3] += line.total_usd_micros if line.estimated else 0
            sums[-2] += line.covered_seconds or 0
            sums[-1] += 1
        stored = {
            (r.day_start, r.pool, r.tenant, r.tier): [
                *(getattr(r, n) for n in names),
                r.estimated,
                r.estimated_usd_micros,
                r.covered_seconds,
                r.lines,
            ]
            for r in session.scalars(select(DailyLineSum))
        }
    assert stored.keys() == expected.keys()
    for key, sums in expected.items():
        got = stored[key]
        for i, name in enumerate(names):
            if name in FLOATS:  # summed in another order here: equal to the last bits only
                assert got[i] == pytest.approx(sums[i], rel=1e-12), (key, name)
            else:
                assert got[i] == sums[i], (key, name)
        assert got[len(names) :] == sums[len(names) :], key


def test_summed_columns_are_every_money_and_usage_column() -> None:
    names = summed_columns()
    money = [c.name for c in AttributedCost.__table__.columns if c.name.endswith("_usd_micros")]
    assert set(money) <= set(names)
    assert {"requests", "prompt_tokens", "generation_tokens", *FLOATS} <= set(names)
    assert set(names) <= {c.name for c in DailyLineSum.__table__.columns}
    assert sorted(SUMMED) == sorted(line_columns()), "SUMMED must list every CostAndUsage column"


def test_touched_days_are_whole_days() -> None:
    noon = START + timedelta(hours=12)
    assert touched_days(START, START) == (START, START)
    assert touched_days(noon, noon + timedelta(hours=13)) == (START, START + timedelta(days=2))
    assert touched_days(START, START + timedelta(days=1)) == (START, START + timedelta(days=1))
