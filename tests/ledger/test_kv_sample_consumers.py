"""The KV figures' samples from ``KvSampleColumns`` are those the driver's tuples gave.

``ledger.kv_columns._samples`` (the samples on the grid, ordered by pool, start and engine) took
``kv_samples``' tuples; it now takes the columns of :mod:`attribution.store.kv_sample_columns`. Its tuple
version, kept in ``tests/support/kv_rows_reference.py``, is the oracle: on random rows (off the grid, out
of the window, NULL capacities, bytes per token and requests running, NaN ratios) both give the same
samples, bit for bit. Incident detection's per-pool-interval engines are checked the same way, through
``detection_columns``, in ``test_gpu_count_consumers.py``.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.ledger.kv_columns import _samples
from attribution.store.kv_sample_columns import kv_sample_columns_from_rows
from tests.support.kv_rows_reference import tuple_samples

STEP = 60
T0 = 1_790_000_040
GRID = (T0, T0 + 5 * STEP, STEP)

kv_rows = st.lists(
    st.tuples(
        st.integers(-1, 6).map(lambda i: T0 + i * STEP).flatmap(lambda t: st.sampled_from([t, t, t + 30])),
        st.sampled_from(["small", "big", "other"]),
        st.sampled_from(["e0", "e1", "e10"]),
        st.one_of(st.floats(0, 1), st.just(math.nan)),
        st.one_of(st.none(), st.integers(0, 200_000)),
        st.one_of(st.none(), st.integers(0, 4096)),
        st.one_of(st.none(), st.floats(0, 8)),
    ),
    max_size=25,
    unique_by=lambda r: (r[0], r[1], r[2]),
)


@settings(max_examples=300, deadline=None)
@given(rows=kv_rows)
def test_samples_from_columns_are_the_tuples(rows: list[tuple[Any, ...]]) -> None:
    found, expected = _samples(kv_sample_columns_from_rows(rows), GRID), tuple_samples(rows, GRID)
    if expected is None:
        assert found is None
        return
    assert found is not None
    for f in fields(expected):
        a, e = getattr(found, f.name), getattr(expected, f.name)
        if isinstance(e, np.ndarray):
            assert a.dtype == e.dtype, f.name
            assert np.array_equal(a, e, equal_nan=e.dtype.kind == "f"), f.name
        else:
            assert a == e, f.name
