"""Exact money: largest-remainder splits and statement rounding (MODEL.md invariant 1)."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution.model.money import (
    MICROS_PER_CENT,
    allocate,
    format_cents,
    format_micros,
    largest_remainder,
    micros_to_cents,
    round_to_unit,
)

totals = st.integers(min_value=-(10**12), max_value=10**12)
weight_lists = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12).filter(
    lambda ws: sum(ws) > 0
)


# --- hand examples (reference/finops.md, section 3.5) ------------------------------------------


def test_33_34_in_four_parts_is_8_34_8_34_8_33_8_33() -> None:
    assert allocate(3334, [1, 1, 1, 1]) == [834, 834, 833, 833]


def test_100_in_three_parts_is_33_34_33_33_33_33() -> None:
    assert allocate(10_000, [1, 1, 1]) == [3334, 3333, 3333]


def test_five_cents_split_30_70_keeps_the_five_cents() -> None:
    # exact shares 1.5 and 3.5: rounding each gives 6 cents, flooring each 4; the split keeps 5.
    # The tied remainder goes to the larger weight, wherever it stands.
    assert allocate(5, [30, 70]) == [1, 4]
    assert allocate(5, [70, 30]) == [4, 1]


def test_equal_weights_tie_goes_to_the_earlier_position() -> None:
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]


def test_a_credit_is_split_by_its_absolute_value_then_negated() -> None:
    assert allocate(-3334, [1, 1, 1, 1]) == [-834, -834, -833, -833]


def test_zero_weight_gets_nothing_and_zero_total_gives_zeros() -> None:
    assert allocate(101, [0, 1, 0, 1]) == [0, 51, 0, 50]
    assert allocate(0, [3, 5]) == [0, 0]


@pytest.mark.parametrize("weights", [[], [0], [0, 0, 0]])
def test_weights_summing_to_zero_raise(weights: list[int]) -> None:
    with pytest.raises(ValueError, match="zero"):
        allocate(100, weights)


@pytest.mark.parametrize("weights", [[-1], [3, -1, 5], [-2, -3]])
def test_negative_weights_raise(weights: list[int]) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        allocate(100, weights)


# --- properties ---------------------------------------------------------------------------------


@given(totals, weight_lists)
def test_parts_sum_exactly_to_the_total(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert all(isinstance(p, int) for p in parts)
    assert sum(parts) == total


@given(totals, weight_lists)
def test_each_part_is_within_one_unit_of_its_exact_share(total: int, weights: list[int]) -> None:
    weight_sum = sum(weights)
    for part, w in zip(allocate(total, weights), weights, strict=True):
        # |part - total * w / weight_sum| < 1, in integers
        assert abs(part * weight_sum - total * w) < weight_sum


@given(totals, weight_lists)
def test_a_larger_weight_never_gets_a_smaller_part(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            if wi > wj:
                assert abs(parts[i]) >= abs(parts[j])
            if wi == wj:
                assert abs(parts[i] - parts[j]) <= 1
        if wi == 0:
            assert parts[i] == 0


@given(st.integers(min_value=0, max_value=10**12), weight_lists, st.data())
def test_raising_one_weight_never_lowers_its_part(
    total: int, weights: list[int], data: st.DataObject
) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(weights) - 1))
    raised = list(weights)
    raised[i] += data.draw(st.integers(min_value=1, max_value=10**9))
    assert allocate(total, raised)[i] >= allocate(total, weights)[i]


@given(totals, weight_lists)
def test_allocation_is_deterministic(total: int, weights: list[int]) -> None:
    assert allocate(total, weights) == allocate(total, list(weights))


@given(
    totals,
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=10, unique=True),
    st.randoms(use_true_random=False),
)
def test_distinct_weights_get_the_same_part_whatever_their_position(
    total: int, weights: list[int], rnd: Random
) -> None:
    shuffled = list(weights)
    rnd.shuffle(shuffled)
    by_weight = dict(zip(weights, allocate(total, weights), strict=True))
    for w, part in zip(shuffled, allocate(total, shuffled), strict=True):
        assert by_weight[w] == part


# --- rounding to cents --------------------------------------------------------------------------


def test_round_to_unit_defaults_to_the_half_even_total() -> None:
    # three lines of 1.5 cents: 4.5 cents rounds half-even to 4; the tied remainder to the first
    assert micros_to_cents([15_000, 15_000, 15_000]) == [2, 1, 1]
    assert micros_to_cents([5_000]) == [0]
    assert micros_to_cents([15_000]) == [2]
    assert micros_to_cents([25_000]) == [2]


def test_round_to_unit_meets_a_given_parent_total() -> None:
    # lines of 3.335, 3.335 and 3.330 dollars under a parent already rounded to $10.00
    assert micros_to_cents([3_335_000, 3_335_000, 3_330_000], total_cents=1000) == [334, 333, 333]


def test_hierarchical_rounding_cluster_to_tenant_to_component() -> None:
    # $10.00 split three ways in micro-USD, then rounded to cents level by level.
    tenants = [3_333_334, 3_333_333, 3_333_333]
    assert sum(tenants) == 10_000_000
    tenant_cents = micros_to_cents(tenants, total_cents=1000)
    # rounding each tenant on its own would give 333 x 3 = 999 cents: one cent lost
    assert tenant_cents == [334, 333, 333]
    # tenant b (333 cents): KV in use $1.666667, static $1.666666; rounded alone, 167 + 167 = 334
    b_components = micros_to_cents([1_666_667, 1_666_666], total_cents=tenant_cents[1])
    assert b_components == [167, 166]
    a_components = micros_to_cents([1_666_667, 1_666_667], total_cents=tenant_cents[0])
    assert a_components == [167, 167]


def test_round_to_unit_rejects_unreachable_totals_and_bad_units() -> None:
    with pytest.raises(ValueError, match="not reachable"):
        round_to_unit([10_000, 10_000], MICROS_PER_CENT, total_units=5)
    with pytest.raises(ValueError, match="not reachable"):
        round_to_unit([10_000, 10_000], MICROS_PER_CENT, total_units=1)
    with pytest.raises(ValueError, match="positive"):
        round_to_unit([1], 0)


@given(
    st.lists(st.integers(min_value=-(10**10), max_value=10**10), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from(["floor", "ceil", "default"]),
)
def test_round_to_unit_sums_to_the_parent_and_stays_within_one_unit(
    amounts: list[int], unit: int, parent: str
) -> None:
    exact_total = sum(amounts)
    floor_total = exact_total // unit
    ceil_total = -(-exact_total // unit)
    if parent == "floor":
        total_units: int | None = floor_total
    elif parent == "ceil":
        total_units = ceil_total
    else:
        total_units = None
    parts = round_to_unit(amounts, unit, total_units)
    if total_units is None:
        assert floor_total <= sum(parts) <= ceil_total
        # half-way or nearer: |sum x unit - exact| <= unit / 2
        assert 2 * abs(sum(parts) * unit - exact_total) <= unit
    else:
        assert sum(parts) == total_units
    for part, amount in zip(parts, amounts, strict=True):
        assert abs(part * unit - amount) < unit


def test_formatting() -> None:
    assert format_cents(123_456) == "1234.56"
    assert format_cents(-5) == "-0.05"
    assert format_cents(0) == "0.00"
    assert format_micros(1_500_000) == "1.500000"
    assert format_micros(-7) == "-0.000007"


@given(
    st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=30),
    st.integers(1, 10**9),
    st.sampled_from(["floor", "ceil", "half"]),
)
def test_largest_remainder_is_the_one_rule(numerators: list[int], denominator: int, how: str) -> None:
    """Any rounding of the exact sum is reachable; the parts sum to it, each within one unit of its exact
    share (floor or floor + 1), the leftover units on the largest remainders."""
    exact = sum(numerators)
    total = {"floor": exact // denominator, "ceil": -(-exact // denominator)}.get(
        how, (2 * exact + denominator) // (2 * denominator)
    )
    parts = largest_remainder(numerators, denominator, total, [abs(n) for n in numerators])
    assert sum(parts) == total
    floors = [n // denominator for n in numerators]
    assert all(p - f in (0, 1) for p, f in zip(parts, floors, strict=True))
    bumped = [n % denominator for n, p, f in zip(numerators, parts, floors, strict=True) if p > f]
    kept = [n % denominator for n, p, f in zip(numerators, parts, floors, strict=True) if p == f]
    assert not bumped or not kept or min(bumped) >= max(kept)


def test_largest_remainder_refuses_an_unreachable_total() -> None:
    with pytest.raises(ValueError, match="not reachable"):
        largest_remainder([1, 1], 3, 3, [1, 1])
