"""Postgres' KV sample records equal ``kv_samples``' rows, on a real Postgres.

:func:`kv_sample_columns` groups a slice's ``kv_samples`` by (pool, engine) and decodes each group's
records in numpy; the row path (:func:`kv_samples`, Postgres' own ``extract(epoch ...)::bigint``, the
driver's None for NULL) is the oracle, through :func:`kv_sample_columns_from_rows`, compared row for row
after sorting: NULL and reported capacities, bytes per token and requests running, NaN and extreme
ratios, another cluster's rows, timestamps off the minute and on half seconds, windows across slices.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from attribution.store.columns import SLICE_SECONDS
from attribution.store.inputs import kv_samples
from attribution.store.kv_sample_columns import (
    KvSampleColumns,
    kv_sample_columns,
    kv_sample_columns_from_rows,
)
from attribution.store.tables import KvSample
from tests.support.database import rolled_back

BASE = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_S = 2 * SLICE_SECONDS

sample_rows = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from([0, 60, SLICE_SECONDS - 60, SLICE_SECONDS]).map(lambda s: s * 1_000_000),
            st.integers(0, SPAN_S * 1_000_000),
            st.integers(0, SPAN_S).map(lambda s: s * 1_000_000 + 500_000),
        ),
        st.sampled_from(["chat", "code", "Pool-é"]),
        st.sampled_from(["e0", "e1", "E2"]),
        st.sampled_from(["default", "default", "other"]),
        st.one_of(st.floats(0, 1), st.sampled_from([math.nan, -0.0, 5e-324, 1e300])),
        st.one_of(st.none(), st.integers(0, 2**40)),
        st.one_of(st.none(), st.integers(0, 2**20)),
        st.one_of(st.none(), st.floats(0, 64), st.just(math.nan)),
    ),
    max_size=40,
    unique_by=lambda r: (r[0], r[1], r[2], r[3]),
)
windows = st.one_of(
    st.just((-60, SPAN_S + 120)),
    st.tuples(st.integers(-3600, SPAN_S), st.integers(0, SPAN_S + 3600)),
)


def canonical(kv: KvSampleColumns) -> list[tuple[Any, ...]]:
    """The columns as sorted tuples, names in place of codes, floats by their bits (NaN as one)."""

    def bits(x: float) -> Any:
        return "nan" if math.isnan(x) else (x, math.copysign(1.0, x))

    rows = zip(
        kv.start_s.tolist(),
        (kv.pools[i] for i in kv.pool.tolist()),
        (kv.engines[i] for i in kv.engine.tolist()),
        map(bits, kv.ratio.tolist()),
        kv.tokens.tolist(),
        kv.reports.tolist(),
        kv.bytes_per_token.tolist(),
        map(bits, kv.running.tolist()),
        strict=True,
    )
    return sorted(rows, key=repr)


def _store(session: Session, rows: list[tuple[Any, ...]]) -> None:
    for at_us, pool, engine, cluster, ratio, tokens, bpt, running in rows:
        session.add(
            KvSample(
                interval_start=BASE + timedelta(microseconds=at_us),
                pool=pool,
                engine_id=engine,
                cluster=cluster,
                kv_usage_ratio=ratio,
                kv_capacity_tokens=tokens,
                kv_bytes_per_token=bpt,
                requests_running=running,
            )
        )
    session.flush()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=sample_rows, window=windows)
def test_the_columns_are_the_rows(pg_engine: Engine, rows: list[tuple], window: tuple[int, int]) -> None:
    start = BASE + timedelta(seconds=window[0])
    end = start + timedelta(seconds=window[1])
    with rolled_back(pg_engine) as factory, factory() as session:
        _store(session, rows)
        found = kv_sample_columns(session, start, end)
        expected = kv_sample_columns_from_rows(kv_samples(session, start, end))
    assert canonical(found) == canonical(expected)
    assert (found.pools, found.engines) == (expected.pools, expected.engines)


def test_sqlite_reads_the_rows(sqlite_factory: sessionmaker[Session]) -> None:
    rows = [
        (0, "chat", "e0", "default", 0.5, None, 160, None),
        (60_000_000, "chat", "e1", "default", 0.25, 9, None, 2.0),
    ]
    with sqlite_factory() as session:
        _store(session, rows)
        found = kv_sample_columns(session, BASE, BASE + timedelta(hours=1))
        expected = kv_sample_columns_from_rows(kv_samples(session, BASE, BASE + timedelta(hours=1)))
    assert canonical(found) == canonical(expected) and len(found) == 2
