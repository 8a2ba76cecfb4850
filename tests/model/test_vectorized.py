"""The vectorised engine returns exactly what the reference engine returns, ties and fallbacks included.

Every comparison runs the vectorised engine with ``fallback=False``, so a pass proves the numpy path
itself produced the lines (not the reference it falls back to outside its exact domain). The reference's
hand-computed tests (the worked example, tests/model/test_attribute.py, test_reserved_and_overheads.py)
run on both engines through the ``engine_impl`` fixture of tests/model/conftest.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution.model import money
from attribution.model.attribute import (
    WHOLE_WINDOW,
    Attribution,
    ClusterInterval,
    Policies,
    Reservation,
    attribute_window,
)
from attribution.model.split import LineKey, PoolInterval, Usage
from attribution.model.vectorized import attribute_window_columns, attribute_window_vectorized
from attribution.model.vectorized_kernels import (
    NotVectorisableError,
    allocate_two,
    largest_remainder,
    muldivmod,
)
from attribution.model.vocabulary import NO_TIER, UNALLOCATED_POOL
from tests.support.engines import vectorised
from tests.support.windows import H, Window, windows


def assert_same(window: Window) -> Attribution:
    pools, cluster, policies, scope = window
    expected = attribute_window(pools, cluster, policies, scope)
    actual = vectorised(pools, cluster, policies, scope)
    assert actual.lines == expected.lines
    assert actual.splits == expected.splits
    assert all(type(v) is int for c in actual.lines.values() for v in (c.kv_in_use, c.idle))
    return actual


# --- the kernels against money.allocate ---------------------------------------------------------


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12) | st.integers(0, 10**6) | st.integers(0, 10**15),
            st.lists(st.sampled_from([0, 1, 2, 3, 6]) | st.integers(0, 10**9), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_largest_remainder_is_money_allocate_on_every_group(groups: list[tuple[int, list[int]]]) -> None:
    """Ties (small, repeated weights) and products past int64 (10**15 x 10**9) included."""
    _assert_allocates_as_money(groups)


@given(st.integers(0, 10**13), st.integers(0, 10**13), st.integers(0, 10**13))
def test_allocate_two_is_money_allocate(total: int, w0: int, w1: int) -> None:
    total = total if w0 + w1 else 0  # the reference never splits money over nothing
    p0, p1 = allocate_two(*(np.array([x], dtype=np.int64) for x in (total, w0, w1)))
    expected = money.allocate(total, [w0, w1]) if w0 + w1 else [0, 0]
    assert [int(p0[0]), int(p1[0])] == expected


def test_products_past_int64_are_computed_exactly() -> None:
    a = np.array([2**40, 3, 2**62], dtype=np.int64)
    b = np.array([2**40 - 1, 5, 2**62 - 7], dtype=np.int64)
    d = np.array([2**41 + 1, 7, 2**62 - 1], dtype=np.int64)
    q, r = muldivmod(a, b, d)
    assert [(int(x), int(y)) for x, y in zip(q, r, strict=True)] == [
        divmod(x * y, z) for x, y, z in zip(a.tolist(), b.tolist(), d.tolist(), strict=True)
    ]
    # what int64 alone would have returned for the first: the reason for the Python-int path
    with np.errstate(over="ignore"):
        assert int((a[:1] * b[:1] // d[:1])[0]) != 2**40 * (2**40 - 1) // (2**41 + 1)


# --- random windows (tests/support/windows.py) against the reference ------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows())
def test_the_engines_give_identical_lines_and_splits(window: Window) -> None:
    assert_same(window)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows(big=True))
def test_identical_where_products_overflow_int64(window: Window) -> None:
    """Costs up to 10**13 micro-USD over weights up to 10**12: products far past 2**63."""
    assert_same(window)


def test_a_large_window_takes_the_python_int_path_and_stays_exact() -> None:
    """One hour of a 10**13 micro-USD pool over byte-sized weights: every product overflows int64."""
    usage = {("a", "0-4k"): Usage(3e9), ("b", "4k-32k"): Usage(1e9), ("b", "0-4k"): Usage(7.0)}
    pools = [
        PoolInterval(
            "p", H + 60 * k, 60, 10**13 + k, 10**12, 6 * 10**11, 0.37, 516_096, usage if k % 3 else {}
        )
        for k in range(60)
    ]
    assert 10**13 * 10**12 > 2**63
    cluster = [ClusterInterval(H, 9 * 10**12, 1, 10**12)]
    result = assert_same((pools, cluster, Policies({"p": "share"}), WHOLE_WINDOW))
    assert result.total_usd_micros == sum(p.cost_usd_micros for p in pools) + 10**13 + 1


def test_a_tie_between_reservations_goes_to_the_first_tenant_in_sorted_order() -> None:
    """C = 12 micro-USD, half static (c's), half free KV. The idle 6 over a 10 %, b 10 %, the rest 80 %:
    0.6, 0.6, 4.8. The rest's remainder wins the first unit, a (sorted first, though listed second)
    the other on the tie with b; c carries the rest."""
    idle = PoolInterval("p", H, 60, 12, 200, 100, 0.0, 1, {("c", "0-4k"): Usage(1.0)})
    listed = [Reservation("b", 100_000, H), Reservation("a", 100_000, H)]
    window = ([idle], [], Policies({"p": "reserved"}, reservations_by_pool={"p": listed}), WHOLE_WINDOW)
    lines = assert_same(window).lines
    assert lines[(H, "p", "a", NO_TIER)].idle == 1
    assert (H, "p", "b", NO_TIER) not in lines
    assert (lines[(H, "p", "c", "0-4k")].static, lines[(H, "p", "c", "0-4k")].idle) == (6, 5)


# --- outside the exact domain: the reference decides ----------------------------------------------


def _one(usage: dict[LineKey, Usage], **changes: Any) -> PoolInterval:
    fields: dict[str, Any] = {
        "pool": "p",
        "interval_start_s": H,
        "interval_seconds": 60,
        "cost_usd_micros": 1_000_000,
        "memory_bytes": 100,
        "kv_capacity_bytes": 60,
        "kv_usage_ratio": 0.5,
        "kv_bytes_per_token": 1,
        "usage": usage,
    }
    return PoolInterval(**(fields | changes))


@pytest.mark.parametrize(
    "window",
    [
        [_one({("a", "x"): Usage(math.nan)})],
        [_one({("a", "x"): Usage(math.inf)})],
        [_one({("a", "x"): Usage(1.0)}), _one({("b", "x"): Usage(2.0)})],
    ],
    ids=["nan", "infinite", "duplicate"],
)
def test_refused_inputs_raise_what_the_reference_raises(window: list[PoolInterval]) -> None:
    with pytest.raises(NotVectorisableError):
        vectorised(window, [], Policies({}))
    with pytest.raises(ValueError) as reference:
        attribute_window(window, [], Policies({}))
    with pytest.raises(ValueError) as fallen_back:
        attribute_window_vectorized(window, [], Policies({}))
    assert str(fallen_back.value) == str(reference.value)


def test_a_negative_pool_cost_raises_what_the_reference_raises() -> None:
    """A credit as a pool cost makes negative non-idle weights, which the reference refuses."""
    window = [_one({("a", "x"): Usage(1.0)}, cost_usd_micros=-1_000_001)]
    with pytest.raises(ValueError, match="non-negative"):
        attribute_window(window, [], Policies({}))
    with pytest.raises(ValueError, match="non-negative"):
        attribute_window_vectorized(window, [], Policies({}))


def test_reservations_over_the_whole_pool_raise_what_the_reference_raises() -> None:
    policies = Policies({"p": "reserved"}, reservations_by_pool={"p": [Reservation("r", 700_000, H)] * 2})
    window = [_one({("a", "x"): Usage(1.0)})]
    with pytest.raises(ValueError, match="non-negative"):
        attribute_window(window, [], policies)
    with pytest.raises(ValueError, match="non-negative"):
        attribute_window_vectorized(window, [], policies)


def test_a_credit_of_unallocated_gpus_falls_back_to_the_reference_and_agrees() -> None:
    """Negative cluster amounts are outside the vectorised domain; the reference splits them."""
    window = [_one({("a", "x"): Usage(1.0), ("b", "y"): Usage(3.0)})]
    cluster = [ClusterInterval(H, -7, 0)]
    expected = attribute_window(window, cluster, Policies({}))
    with pytest.raises(NotVectorisableError):
        vectorised(window, cluster, Policies({}))
    assert attribute_window_vectorized(window, cluster, Policies({})).lines == expected.lines
    columns, splits = attribute_window_columns(window, cluster, Policies({}))
    assert columns.to_dict() == expected.lines
    assert [s.unmeasured_usd_micros for s in splits] == [0]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows())
def test_the_columns_are_the_lines(window: Window) -> None:
    pools, cluster, policies, scope = window
    columns, splits = attribute_window_columns(pools, cluster, policies, scope)
    expected = attribute_window(pools, cluster, policies, scope)
    assert columns.to_dict() == expected.lines
    assert list(columns.to_dict()) == sorted(expected.lines)
    assert [s.cost_usd_micros for s in splits] == [s.cost_usd_micros for s in expected.splits]


def test_a_pool_named_like_the_unallocated_gpus_adds_up_with_them() -> None:
    window = [_one({("a", "x"): Usage(1.0)}, pool=UNALLOCATED_POOL)]
    cluster = [ClusterInterval(H, 5, 0)]
    assert_same((window, cluster, Policies({}), WHOLE_WINDOW))


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12) | st.integers(0, 10**6) | st.integers(0, 10**15),
            st.lists(st.sampled_from([0, 1, 2, 3, 6]) | st.integers(0, 10**9), min_size=2, max_size=2)
            | st.lists(st.sampled_from([1, 2]), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_groups_of_two_give_their_leftover_as_money_allocate(groups: list[tuple[int, list[int]]]) -> None:
    """Groups of two take their leftover unit without a sort (``_pair_wins``): equal remainders go to the
    larger weight, equal weights to the first, as ``money.allocate`` gives them, among groups of other
    sizes whose candidates still go through the sort."""
    _assert_allocates_as_money(groups)


def _assert_allocates_as_money(groups: list[tuple[int, list[int]]]) -> None:
    """``largest_remainder`` over ``(total, weights)`` groups gives ``money.allocate`` of each (a group
    whose weights sum to zero gets a zero total, which the reference never splits)."""
    groups = [(total if sum(w) else 0, w) for total, w in groups]
    totals = np.array([t for t, _ in groups], dtype=np.int64)
    counts = np.array([len(w) for _, w in groups], dtype=np.int64)
    weights = np.array([x for _, w in groups for x in w], dtype=np.int64)
    parts = largest_remainder(totals, counts, weights).tolist()
    expected = [p for t, w in groups for p in (money.allocate(t, w) if sum(w) else [0] * len(w))]
    assert parts == expected
