"""Postgres' GPU count records summed by numpy equal ``gpu_counts``' SQL sums, on a real Postgres.

:func:`gpu_count_columns` groups a slice's ``gpu_samples`` by (type, pool, placement) only and sums each
interval's records in numpy; the SQL path it replaced (:func:`gpu_counts`, Postgres' own ``GROUP BY``,
exact ``numeric`` sums) is the oracle, compared row for row after sorting. Generated rows cover whole GPUs
and MIG or shared parts, every gauge NULL or not, negative framebuffers (integer division truncates toward
zero), unplaced parts, types outside the catalog (None), pools None and "", another cluster, timestamps off
the minute and on half seconds, rows stored out of interval order (a group's records then need a sort),
windows across the reader's slices, and sums too large to prove in int64 (the SQL path reads them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.columns import SLICE_SECONDS
from attribution.store.gpu_columns import gpu_count_columns, gpu_count_columns_from_rows
from attribution.store.inputs import gpu_counts
from attribution.store.tables import GpuSample
from tests.support.database import rolled_back
from tests.support.gpu_rows_reference import canonical_rows

BASE = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_S = 2 * SLICE_SECONDS
GIB = 2**30
ANCHORS_US = [s * 1_000_000 for s in (0, 60, 120, SLICE_SECONDS - 60, SLICE_SECONDS, SPAN_S - 60)]

nullable_bytes = st.one_of(st.none(), st.integers(0, 96 * GIB), st.integers(-2 * GIB, 2**50))
sample_rows = st.lists(
    st.tuples(
        st.one_of(
            # a few intervals, many GPUs each, either side of a slice: most rows share an interval
            *[st.sampled_from(ANCHORS_US)] * 4,
            st.integers(0, SPAN_S // 60).map(lambda m: m * 60_000_000),  # whole minutes, as collected
            st.integers(0, SPAN_S * 1_000_000),  # any microsecond
            st.integers(0, SPAN_S).map(lambda s: s * 1_000_000 + 500_000),  # half seconds
        ),
        st.sampled_from([f"GPU-{i}" for i in range(12)]),
        st.sampled_from(["", "", "1g.10gb-0", "3g.40gb-1"]),  # part
        st.sampled_from(["A30", "A30", "A30", "H100-80GB-SXM", None]),
        st.sampled_from(["chat", "chat", "chat", "code", "", None]),
        st.sampled_from(["default", "default", "default", "other"]),
        st.one_of(st.none(), st.integers(0, 1_000_000)),  # share: None is a whole GPU
        nullable_bytes,
        nullable_bytes,
        nullable_bytes,
        st.one_of(st.none(), st.integers(0, 2_000_000)),  # milliwatts
        st.sampled_from([None, None, None, "unplaced"]),
    ),
    min_size=10,
    max_size=80,
    unique_by=lambda r: (r[0], r[1], r[2], r[5]),
)
windows = st.one_of(
    st.just((-60, SPAN_S + 120)),  # every row
    st.tuples(st.integers(-3600, SPAN_S), st.integers(0, SPAN_S + 3600)),
)


def _store(session: Session, rows: list[tuple]) -> None:
    for at_us, uuid, part, gpu_type, pool, cluster, share, used, free, reserved, mw, problem in rows:
        session.add(
            GpuSample(
                interval_start=BASE + timedelta(microseconds=at_us),
                gpu_uuid=uuid,
                part=part,
                hostname="node-1",
                gpu_model_name="NVIDIA H100 80GB HBM3",
                gpu_type=gpu_type,
                pool=pool,
                cluster=cluster,
                gpu_share_ppm=share,
                fb_used_bytes=used,
                fb_free_bytes=free,
                fb_reserved_bytes=reserved,
                power_milliwatts=mw,
                problem=problem,
            )
        )
    session.flush()


def _both(session: Session, start: datetime, end: datetime) -> tuple[list[tuple], list[tuple]]:
    found = gpu_count_columns(session, start, end)
    expected = gpu_count_columns_from_rows(gpu_counts(session, start, end))
    return canonical_rows(found), canonical_rows(expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=sample_rows, window=windows)
def test_the_columns_are_the_sql_sums(pg_engine: Engine, rows: list[tuple], window: tuple[int, int]) -> None:
    start = BASE + timedelta(seconds=window[0])
    end = start + timedelta(seconds=window[1])
    with rolled_back(pg_engine) as factory, factory() as session:
        _store(session, rows)
        found, expected = _both(session, start, end)
        assert session.execute(text("SELECT current_setting('enable_sort')")).scalar_one() == "on"
        assert found == expected
        # a sequential scan feeds each group its rows as stored, out of interval order
        session.execute(text("SET LOCAL enable_indexscan = off"))
        session.execute(text("SET LOCAL enable_bitmapscan = off"))
        assert canonical_rows(gpu_count_columns(session, start, end)) == expected


def _huge(uuid: str, used: int, minute: int = 0) -> tuple:
    return (minute * 60_000_000, uuid, "", "A30", "chat", "default", None, used, 0, 0, 1, None)


def test_sums_int64_cannot_hold_for_certain_are_read_by_sql(pg_engine: Engine) -> None:
    """Two values of 2**62 sum within int64 but past what a bound on each proves: the SQL path reads
    them (the same sums); three overflow bigint, and the read raises as ``gpu_counts`` does."""
    end = BASE + timedelta(hours=1)
    with rolled_back(pg_engine) as factory, factory() as session:
        _store(session, [_huge("GPU-a", 2**62), _huge("GPU-b", 2**62 - 1)])
        found, expected = _both(session, BASE, end)
        assert found == expected and found[0][-2] == 2**63 - 1  # fb_used_bytes, summed exactly
    with rolled_back(pg_engine) as factory, factory() as session:
        _store(session, [_huge("GPU-a", 2**62), _huge("GPU-b", 2**62), _huge("GPU-c", 2**62)])
        with pytest.raises(DBAPIError, match="out of range"):
            gpu_count_columns(session, BASE, end)


@pytest.mark.parametrize("previous", ["on", "off"])
def test_the_sort_setting_is_put_back(pg_engine: Engine, previous: str) -> None:
    with rolled_back(pg_engine) as factory, factory() as session:
        session.execute(text(f"SET LOCAL enable_sort = {previous}"))
        gpu_count_columns(session, BASE, BASE + timedelta(days=1))
        assert session.execute(text("SELECT current_setting('enable_sort')")).scalar_one() == previous


def test_sqlite_reads_the_sql_sums(sqlite_factory: sessionmaker[Session]) -> None:
    """SQLite (the demo) keeps the SQL path: the same columns as its rows give."""
    rows = [
        (0, "GPU-a", "", "A30", "chat", "default", None, GIB, GIB, 0, 300_000, None),
        (0, "GPU-b", "1g.10gb-0", "A30", None, "default", 250_000, None, GIB, 0, None, "unplaced"),
        (60_000_000, "GPU-a", "", None, "", "default", None, GIB + 1, 0, None, 5, None),
    ]
    with sqlite_factory() as session:
        _store(session, rows)
        found, expected = _both(session, BASE, BASE + timedelta(hours=1))
    assert found == expected and len(found) == 3
