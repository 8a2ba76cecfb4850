"""Every window read through the rollups (attribution/store/daysums.py) equals the same window summed
straight from the lines, as every view read it before: money and counts exactly, the float usage columns to
the last bits; the analyst views likewise. Random lines over three UTC days, random windows (whole days,
partial days, within one day), on Postgres and SQLite."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.daysums import whole_days
from attribution.store.lines import estimated_and_unmeasured, line_item_sums, pool_usage, tier_sums
from attribution.store.rollups import SUMMED
from attribution.store.statements import usage_lines
from attribution.store.tables import AttributedCost
from tests.support.lines import insert_lines

START = datetime(2026, 11, 29, tzinfo=UTC)  # three days: November 29 and 30 (a period's end), December 1
MINUTES = 3 * 24 * 60
FLOATS = ("kv_token_seconds", "kv_byte_seconds")
VERSIONS = Path(__file__).parents[2] / "migrations/versions"
MIGRATION = VERSIONS / "2026_12_04_0500-20261204views_views_over_rollups.py"

line = st.tuples(
    st.integers(0, MINUTES - 1),
    st.sampled_from(["small", "large"]),
    st.sampled_from(["acme", "globex", "umbrella"]),
    st.sampled_from(["0-4k", "4k-32k"]),
    st.integers(0, 10**9),
    # stored token-seconds are never subnormal (ledger/lines._normal flushes them to zero)
    st.floats(0, 1e12, allow_subnormal=False),
    st.booleans(),
)
minute = st.integers(0, MINUTES)


def _row(at: int, pool: str, tenant: str, tier: str, micros: int, seconds: float, estimated: bool) -> dict:
    parts = [micros // 7, micros // 5, micros // 3, micros // 11]
    return {
        "interval_start": START + timedelta(minutes=at),
        "pool": pool,
        "tenant": tenant,
        "tier": tier,
        "estimated": estimated,
        "covered_seconds": 60,
        "kv_in_use_usd_micros": parts[0],
        "static_usd_micros": parts[1],
        "idle_usd_micros": parts[2],
        "idle_cold_usd_micros": parts[2] // 2,
        "idle_warm_usd_micros": parts[2] - parts[2] // 2,
        "kv_headroom_usd_micros": 0,
        "recovery_usd_micros": parts[3],
        "unmeasured_usd_micros": micros - sum(parts),
        "total_usd_micros": micros,
        "kv_token_seconds": seconds,
        "kv_byte_seconds": seconds * 3,
        "requests": micros % 97,
        "prompt_tokens": micros % 1009,
        "generation_tokens": micros % 101,
    }


def _unique(rows: list[tuple]) -> list[dict]:
    seen = {(r[0], r[1], r[2], r[3]): r for r in rows}
    return [_row(*r) for r in seen.values()]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, min_size=1, max_size=40), minute, minute)
def test_windows_from_rollups_equal_the_sums_of_their_lines(
    db_factory: sessionmaker[Session], drawn: list[tuple], a: int, b: int
) -> None:
    start, end = START + timedelta(minutes=min(a, b)), START + timedelta(minutes=max(a, b) + 1)
    with db_factory() as session:
        insert_lines(session, _unique(drawn))
        fields = list(SUMMED)
        found = line_item_sums(session, start, end, fields)
        assert {r[-1] for r in found} <= {"default"}  # the cluster, last: these lines are the default's
        got = {tuple(r[:3]): list(r[3:-1]) for r in found}
        assert got.keys() == _expected(session, start, end, fields).keys()
        for key, sums in _expected(session, start, end, fields).items():
            _same(got[key], sums, [*fields, "estimated"])
        t = AttributedCost
        window = [t.interval_start >= start, t.interval_start < end]
        estimated = select(func.coalesce(func.sum(case((t.estimated, t.total_usd_micros), else_=0)), 0))
        unmeasured = select(func.coalesce(func.sum(t.unmeasured_usd_micros), 0))
        assert estimated_and_unmeasured(session, start, end, None) == (
            session.execute(estimated.where(*window)).scalar_one(),
            session.execute(unmeasured.where(*window)).scalar_one(),
        )
        tiers = {r[0]: list(r[1:]) for r in tier_sums(session, start, end, "small")}
        for tier, sums in tiers.items():
            lines = _expected(session, start, end, list(SUMMED), pool="small", tier=tier).values()
            assert sums[0] == sum(x[SUMMED.index("requests")] for x in lines)
            assert sums[3] == sum(x[SUMMED.index("total_usd_micros")] for x in lines)
        tokens = session.execute(
            select(func.coalesce(func.sum(t.prompt_tokens + t.generation_tokens), 0)).where(
                *window, t.pool == "large"
            )
        ).scalar_one()
        assert pool_usage(session, "large", start, end)[0] == tokens
        session.rollback()


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, min_size=1, max_size=40))
def test_the_open_statement_and_the_analyst_views_equal_them_from_lines(
    db_factory: sessionmaker[Session], drawn: list[tuple]
) -> None:
    with db_factory() as session:
        insert_lines(session, _unique(drawn))
        november = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
        statement = {(x["pool"], x["tenant"], x["tier"]): x for x in usage_lines(session, "2026-11")}
        expected = _expected(session, *november, list(SUMMED), keys=("pool", "tenant", "tier"))
        assert statement.keys() == expected.keys()
        for key, sums in expected.items():
            _same([statement[key][f] for f in SUMMED], sums[:-1], list(SUMMED))
        views = _migration()
        dialect = session.get_bind().dialect.name
        for name, key in views.VIEWS.items():
            before = views.view_sql(name, key, dialect, "attributed_costs", "interval_start")
            old = _rows(session, before.split(" AS\n", 1)[1])
            # the views group by cluster too (20261204clus); these lines are all the default cluster's
            measures = ", ".join(("memory_gib_hours", *views.INTEGER_MEASURES))
            new = _rows(session, f"SELECT day, {key}, {measures} FROM {name}")
            assert old.keys() == new.keys(), name
            for k, values in old.items():
                assert new[k][1:] == values[1:], (name, k)  # every integer measure exactly
                assert new[k][0] == pytest.approx(values[0], rel=1e-12), (name, k)  # GiB-hours
        session.rollback()


def test_whole_days_are_the_days_inside_the_window() -> None:
    noon = START + timedelta(hours=12)
    assert whole_days(START, START + timedelta(days=1)) == (START, START + timedelta(days=1))
    assert whole_days(noon, noon + timedelta(days=1)) is None
    day = timedelta(days=1)
    assert whole_days(noon, noon + 2 * day) == (START + day, START + 2 * day)


def _expected(
    session: Session,
    start: datetime,
    end: datetime,
    fields: list[str],
    keys: tuple[str, ...] = ("tenant", "pool", "tier"),
    pool: str | None = None,
    tier: str | None = None,
) -> dict[tuple, list]:
    """The window's sums straight from the lines, as the views summed them before the rollups."""
    t = AttributedCost
    where = [t.interval_start >= start, t.interval_start < end]
    where += [t.pool == pool] if pool else []
    where += [t.tier == tier] if tier else []
    cols = [getattr(t, k) for k in keys]
    rows = session.execute(
        select(*cols, *(func.sum(getattr(t, f)) for f in fields), func.max(case((t.estimated, 1), else_=0)))
        .where(*where)
        .group_by(*cols)
    ).all()
    return {tuple(r[: len(keys)]): list(r[len(keys) :]) for r in rows}


def _same(got: list[Any], expected: list[Any], names: list[str]) -> None:
    for name, g, e in zip(names, got, expected, strict=True):
        if name in FLOATS:  # summed in another order: equal to the last bits
            assert g == pytest.approx(e, rel=1e-12, abs=1e-9), name
        else:
            assert int(g) == int(e), name


def _rows(session: Session, sql: str) -> dict[tuple, list]:
    found = session.execute(text(sql)).all()
    return {(str(r[0]), r[1]): [float(r[2] or 0), *(int(v) for v in r[3:])] for r in found}


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("views_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
