"""The usage columns' row order: interval, pool, key, ties in their given order, as ``np.lexsort`` gives
it, whichever way :func:`_time_pool_key_order` sorts (one packed key, its stable fallback for rows equal
in all three, or the lexsort itself when the packed key would not fit in int64)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.store.columns import (
    _batch,
    _grouped_order,
    _ordered,
    _strictly_increasing,
    _time_pool_key_order,
)


@st.composite
def rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    n_pools = draw(st.integers(1, 6))
    n_keys = draw(st.integers(1, 9))
    n = draw(st.integers(0, 60))
    # few distinct times so rows equal in all three happen; wide ones so the packed key overflows
    times = draw(st.sampled_from([st.integers(0, 3), st.integers(-(2**40), 2**40), st.integers(0, 2**61)]))
    ts = np.array(draw(st.lists(times, min_size=n, max_size=n)), dtype=np.int64)
    pool = np.array(draw(st.lists(st.integers(0, n_pools - 1), min_size=n, max_size=n)), dtype=np.int64)
    key = np.array(draw(st.lists(st.integers(0, n_keys - 1), min_size=n, max_size=n)), dtype=np.int64)
    return ts, pool, key, n_pools, n_keys


@settings(max_examples=300, deadline=None)
@given(rows())
def test_the_order_is_lexsorts(case: tuple[np.ndarray, np.ndarray, np.ndarray, int, int]) -> None:
    ts, pool, key, n_pools, n_keys = case
    order = _time_pool_key_order(ts, pool, key, n_pools, n_keys)
    assert order.tolist() == np.lexsort((key, pool, ts)).tolist()


def test_rows_equal_in_all_three_keep_their_given_order() -> None:
    ts = np.array([60, 0, 60, 60, 0], dtype=np.int64)
    pool = np.array([1, 0, 1, 0, 0], dtype=np.int64)
    key = np.array([2, 1, 2, 2, 1], dtype=np.int64)
    assert _time_pool_key_order(ts, pool, key, 2, 3).tolist() == [1, 4, 3, 0, 2]


def test_records_of_the_wrong_length_are_refused() -> None:
    """Each group's count must match its records: a short string is an error, never a shift."""
    names, sizes, columns = _batch([("p", "t", "standard", 1, bytes(40))])
    assert (names, sizes, [c.tolist() for c in columns[1:]]) == ([("p", "t", "standard")], [1], [[0]] * 4)
    with pytest.raises(ValueError, match="expected 2 usage records, got 1"):
        _batch([("p", "t", "standard", 2, bytes(40))])
    with pytest.raises(ValueError):
        _batch([("p", "t", "standard", 1, bytes(41))])


@st.composite
def grouped_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[Any, Any, Any]]:
    """Rows in groups of one (pool, key) each, as the reader receives them; a (pool, key) may come in
    several groups (one per slice), its rows unordered or not, times near or far apart."""
    n_groups = draw(st.integers(0, 8))
    group_pool = np.array(draw(st.lists(st.integers(0, 3), min_size=n_groups, max_size=n_groups)), np.int64)
    group_key = np.array(draw(st.lists(st.integers(0, 4), min_size=n_groups, max_size=n_groups)), np.int64)
    sizes = np.array(draw(st.lists(st.integers(0, 8), min_size=n_groups, max_size=n_groups)), np.int64)
    base = draw(st.integers(-(2**40), 2**40))
    spread = draw(st.sampled_from([4, 2**16 - 1, 2**16, 2**16 + 1, 2**20, 2**32 - 1, 2**32, 2**45]))
    n = int(sizes.sum())
    times = st.one_of(st.integers(0, min(spread, 3)), st.integers(0, spread), st.just(spread))
    ts = base + np.array(draw(st.lists(times, min_size=n, max_size=n)), dtype=np.int64)
    pool, key = np.repeat(group_pool, sizes), np.repeat(group_key, sizes)
    return ts, pool, key, (group_pool, group_key, sizes)


@settings(max_examples=500, deadline=None)
@given(grouped_rows())
def test_the_order_of_grouped_rows_is_lexsorts(case: tuple[Any, ...]) -> None:
    """The grouped rows' order is the lexsort's, ties in their given order, whether the radix order
    stands alone or is sorted again (rows equal in all three, a span too wide to pack); the columns
    returned are the given ones in that order."""
    ts, pool, key, groups = case
    n_pools, n_keys = int(pool.max(initial=0)) + 1, int(key.max(initial=0)) + 1
    order, ts_out, pool_out, key_out = _ordered(ts, pool, key, groups, n_pools, n_keys)
    assert order.tolist() == np.lexsort((key, pool, ts)).tolist()
    assert [ts_out.tolist(), pool_out.tolist(), key_out.tolist()] == [
        a[order].tolist() for a in (ts, pool, key)
    ]


@settings(max_examples=300, deadline=None)
@given(grouped_rows())
def test_the_radix_order_alone_is_lexsorts_where_the_check_passes(case: tuple[Any, ...]) -> None:
    """Where :func:`_strictly_increasing` accepts the radix order, it is the lexsort's, and it accepts it
    whenever no two rows share all three and the span and the packed key fit: the sort after it is then
    never needed."""
    ts, pool, key, groups = case
    n_pools, n_keys = int(pool.max(initial=0)) + 1, int(key.max(initial=0)) + 1
    order = _grouped_order(ts, groups)
    triples = {(int(t), int(p), int(k)) for t, p, k in zip(ts, pool, key, strict=True)}
    span = int(ts.max()) - int(ts.min()) + 1 if ts.size else 0
    if _strictly_increasing(ts[order], pool[order], key[order], n_pools, n_keys):
        assert order.tolist() == np.lexsort((key, pool, ts)).tolist()
    else:
        assert len(triples) < ts.size or span >= 2**32 or span * n_pools * n_keys >= 2**62
