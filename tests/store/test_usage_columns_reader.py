"""Postgres' usage reader equals the row path, over generated rows and windows, on a real Postgres.

:func:`usage_columns` groups each slice with a hash aggregate (``enable_sort`` off for its queries, and
back as it was after), and converts the timestamps to Unix seconds in numpy rather than by ``extract``
in SQL. Compared here with :func:`usage_columns_from_rows` over :func:`tenant_usage`'s rows (Postgres'
own ``extract(epoch ...)::bigint``), value for value and bit for bit: empty windows, one key only,
several pools and tiers, another cluster's rows, zero, negative-zero and subnormal token-seconds,
fractional and half-second timestamps, and windows across the reader's slices.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from attribution.errors import DatabaseUnavailableError
from attribution.model.vectorized_usage import UsageColumns
from attribution.store.columns import SLICE_SECONDS, epoch_seconds, usage_columns, usage_columns_from_rows
from attribution.store.inputs import tenant_usage
from attribution.store.tables import TenantUsage
from tests.support.database import rolled_back

BASE = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_US = 2 * SLICE_SECONDS * 1_000_000
BIG = 2**62

usage_rows = st.lists(
    st.tuples(
        st.one_of(
            st.integers(0, SPAN_US // 60_000_000).map(
                lambda m: m * 60_000_000
            ),  # whole minutes, as collected
            st.integers(0, SPAN_US),  # any microsecond
            st.integers(0, SPAN_US // 1_000_000).map(lambda s: s * 1_000_000 + 500_000),  # half seconds
        ),
        st.sampled_from(["pool-b", "pool-a", "Pool-Z", "pool-é"]),
        st.sampled_from(["t1", "t10", "T2"]),
        st.sampled_from(["standard", "batch"]),
        st.sampled_from(["default", "default", "default", "other"]),
        st.integers(0, BIG),
        st.integers(0, BIG),
        st.integers(0, BIG),
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-310]),
        ),
    ),
    max_size=60,
    unique_by=lambda r: (r[0], r[1], r[2], r[3], r[4]),
)
windows = st.tuples(st.integers(-3600, SPAN_US // 1_000_000), st.integers(0, SPAN_US // 1_000_000 + 3600))


def _assert_same(actual: UsageColumns, expected: UsageColumns) -> None:
    assert actual.pools == expected.pools
    assert actual.keys == expected.keys
    for name in ("interval_start_s", "pool", "key", "requests", "prompt_tokens", "generation_tokens"):
        assert getattr(actual, name).dtype == np.int64, name
        assert np.array_equal(getattr(actual, name), getattr(expected, name)), name
    assert np.array_equal(actual.kv_token_seconds.view(np.int64), expected.kv_token_seconds.view(np.int64))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=usage_rows, window=windows)
def test_the_reader_is_the_row_path(pg_engine: Engine, rows: list[tuple], window: tuple[int, int]) -> None:
    start = BASE + timedelta(seconds=window[0])
    end = start + timedelta(seconds=window[1])
    with rolled_back(pg_engine) as factory, factory() as session:
        for at_us, pool, tenant, tier, cluster, requests, prompt, generation, seconds in rows:
            session.add(
                TenantUsage(
                    interval_start=BASE + timedelta(microseconds=at_us),
                    pool=pool,
                    tenant=tenant,
                    tier=tier,
                    cluster=cluster,
                    requests=requests,
                    prompt_tokens=prompt,
                    generation_tokens=generation,
                    kv_token_seconds=seconds,
                )
            )
        session.flush()
        found = usage_columns(session, start, end)
        expected = usage_columns_from_rows(tenant_usage(session, start, end))
        assert session.execute(text("SELECT current_setting('enable_sort')")).scalar_one() == "on"
    _assert_same(found, expected)
    assert len(found) == sum(
        1 for r in rows if r[4] == "default" and start <= BASE + timedelta(microseconds=r[0]) < end
    )


@pytest.mark.parametrize("previous", ["on", "off"])
def test_the_sort_setting_is_put_back(pg_engine: Engine, previous: str) -> None:
    with rolled_back(pg_engine) as factory, factory() as session:
        session.execute(text(f"SET LOCAL enable_sort = {previous}"))
        usage_columns(session, BASE, BASE + timedelta(days=1))
        assert session.execute(text("SELECT current_setting('enable_sort')")).scalar_one() == previous


def test_a_failed_read_raises_its_own_error_not_the_setting_put_back(pg_engine: Engine) -> None:
    """The reader's query runs on psycopg's own cursor (binary results): when it fails, the transaction is
    aborted, and putting the sort setting back must not raise over the failure. A real lock held by
    another connection, and a lock timeout, make the query fail."""
    with pg_engine.connect() as holder:
        holder.execute(text("LOCK TABLE tenant_usage IN ACCESS EXCLUSIVE MODE"))
        with rolled_back(pg_engine) as factory, factory() as session:
            session.execute(text("SET LOCAL lock_timeout = '50ms'"))
            with pytest.raises(DatabaseUnavailableError, match="lock timeout"):
                usage_columns(session, BASE, BASE + timedelta(days=1))
        holder.rollback()


def test_seconds_round_as_postgres_extract_rounds(pg_engine: Engine) -> None:
    """Half seconds away from zero, before 1970 too; the extremes of ``timestamptz``."""
    stamps = [
        "1970-01-01 00:00:00.5+00", "1969-12-31 23:59:59.5+00", "1969-12-31 23:59:58.5+00",
        "1969-12-31 23:59:59.4+00", "1969-12-31 23:59:59.6+00", "1970-01-01 00:00:00.499999+00",
        "2000-01-01 00:00:00+00", "1999-12-31 23:59:59.5+00", "2026-10-01 12:34:56.500001+00",
        "4713-01-01 00:00:00+00 BC", "294276-12-31 23:59:59.999999+00", "2026-10-01 00:00:00.5+00",
    ]  # fmt: skip
    with pg_engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT extract(epoch FROM t)::bigint, "
                "(extract(epoch FROM t - '2000-01-01 00:00:00+00') * 1000000)::bigint "
                "FROM unnest(CAST(:stamps AS timestamptz[])) AS t"
            ),
            {"stamps": stamps},
        ).all()
    expected = np.array([s for s, _ in found], dtype=np.int64)
    since_2000_us = np.array([us for _, us in found], dtype=np.int64)
    assert np.array_equal(epoch_seconds(since_2000_us), expected)


def test_infinite_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="infinite"):
        epoch_seconds(np.array([0, np.iinfo(np.int64).max], dtype=np.int64))
