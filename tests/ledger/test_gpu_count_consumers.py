"""The GPU counts' consumers read ``GpuCountColumns`` as they read the driver's tuples before.

``group_telemetry`` (the model's telemetry) and ``detection_columns`` (incident detection's
pool-intervals) took ``gpu_counts``' tuples; they now take the columns of
:mod:`attribution.store.gpu_columns`. Their tuple versions, kept in ``tests/support/gpu_rows_reference.py``,
are the oracle: on random rows (several types and None, pools None and "", whole GPUs and parts, unplaced
parts, counts reported as None, memory and power on some rows, rows sharing a key) both give the same
columns, bit for bit, and detection over concatenated columns is detection over the rows joined.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.ledger.incident_columns import detection_columns
from attribution.ledger.telemetry import group_telemetry
from attribution.store.columns import usage_columns_from_rows
from attribution.store.gpu_columns import concatenated, gpu_count_columns_from_rows
from tests.support.gpu_rows_reference import tuple_detection_columns, tuple_group_telemetry

STEP = 60
T0 = 1_790_000_040

gpu_count_rows = st.lists(
    st.tuples(
        st.integers(0, 6).map(lambda i: T0 + i * STEP),
        st.sampled_from(["H100-SXM", "A30", "B200", None]),
        st.sampled_from(["small", "big", "", None]),
        st.booleans(),
        st.integers(0, 5),
        st.integers(0, 3_000_000),
        st.one_of(st.none(), st.integers(0, 6)),
        st.integers(0, 400_000),
        st.one_of(st.none(), st.integers(0, 6)),
        st.integers(0, 3_000_000),
        st.integers(0, 2**40),
        st.integers(0, 6),
    ),
    max_size=30,
)
kv_rows = st.lists(
    st.tuples(
        st.integers(0, 6).map(lambda i: T0 + i * STEP),
        st.sampled_from(["small", "big", "other"]),
        st.sampled_from(["e0", "e1"]),
        st.floats(0, 1),
        st.one_of(st.none(), st.integers(0, 200_000)),
        st.just(160),
        st.integers(0, 4),
    ),
    max_size=10,
)
usage_rows = st.lists(
    st.tuples(
        st.integers(0, 6).map(lambda i: T0 + i * STEP),
        st.sampled_from(["small", "big", "other"]),
        st.sampled_from(["t1", "t2"]),
        st.just("standard"),
        st.integers(0, 3),
        st.integers(0, 100),
        st.integers(0, 100),
        st.sampled_from([0.0, 1.5, -1.0, float("nan")]),
    ),
    max_size=10,
)


def _assert_same(actual: Any, expected: Any) -> None:
    for f in fields(expected):
        a, e = getattr(actual, f.name), getattr(expected, f.name)
        if isinstance(e, np.ndarray):
            assert a.dtype == e.dtype and np.array_equal(a, e), f.name
        else:
            assert a == e, f.name


@settings(max_examples=300, deadline=None)
@given(rows=gpu_count_rows)
def test_telemetry_from_columns_is_the_tuples(rows: list[tuple[Any, ...]]) -> None:
    _assert_same(group_telemetry(gpu_count_columns_from_rows(rows)), tuple_group_telemetry(rows))


@settings(max_examples=300, deadline=None)
@given(context=gpu_count_rows, rows=gpu_count_rows, kv=kv_rows, usage=usage_rows)
def test_detection_from_columns_is_the_tuples(
    context: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], kv: list[tuple[Any, ...]], usage: list[Any]
) -> None:
    used = [usage_columns_from_rows(usage)]
    counts = concatenated([gpu_count_columns_from_rows(context), gpu_count_columns_from_rows(rows)])
    _assert_same(detection_columns(counts, kv, used), tuple_detection_columns([*context, *rows], kv, used))
