"""The vectorised engine returns exactly what the reference engine returns, ties and fallbacks included.

Every comparison runs the vectorised engine with ``fallback=False``, so a pass proves the numpy path
itself produced the lines (not the reference it falls back to outside its exact domain).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from types import ModuleType
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
    PeriodScope,
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
from attribution.model.vocabulary import NO_TIER, UNALLOCATED_POOL, FixedPolicy
from tests.model import test_attribute, test_reserved_and_overheads, test_worked_example

H = 1_793_577_600  # 2026-11-02T00:00:00Z
HOUR = 3600
TENANTS = ["a", "b", "c", "r"]
TIERS = ["0-4k", "4k-32k", NO_TIER]
Window = tuple[list[PoolInterval], list[ClusterInterval], Policies, PeriodScope]

vectorised = functools.partial(attribute_window_vectorized, split_lines=True, fallback=False)


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
    groups = [(total if sum(w) else 0, w) for total, w in groups]
    totals = np.array([t for t, _ in groups], dtype=np.int64)
    counts = np.array([len(w) for _, w in groups], dtype=np.int64)
    weights = np.array([x for _, w in groups for x in w], dtype=np.int64)
    parts = largest_remainder(totals, counts, weights).tolist()
    expected = [p for t, w in groups for p in (money.allocate(t, w) if sum(w) else [0] * len(w))]
    assert parts == expected


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


# --- random windows: every policy, scope and kind of missing data -------------------------------

usages = st.builds(
    Usage,
    kv_token_seconds=st.sampled_from([0.0, 0.0004, 0.0005, 1.0, 10.0, 30.0]) | st.floats(0, 1e5),
    requests=st.integers(0, 50),
    prompt_tokens=st.sampled_from([0, 100]) | st.integers(0, 10**5),
    generation_tokens=st.sampled_from([0, 5]) | st.integers(0, 10**4),
)
usage_maps = st.dictionaries(st.tuples(st.sampled_from(TENANTS), st.sampled_from(TIERS)), usages, max_size=5)
# two and a half hours of minutes, and a few half-hour steps beyond
offsets = st.integers(0, 150).map(lambda k: 60 * k) | st.integers(5, 12).map(lambda k: 1800 * k)
ratios = st.none() | st.sampled_from([0.0, 0.5, 1.0, math.nan, -0.25, 1.5]) | st.floats(0, 1)
running = st.none() | st.sampled_from([0.0, 0.0, 1.0, 3.5, math.nan, math.inf, -1.0]) | st.floats(0, 64)


@st.composite
def pool_intervals(draw: st.DrawFn, pools: list[str], big: bool) -> list[PoolInterval]:
    size = draw(st.integers(0, 24))
    cells = draw(
        st.lists(st.tuples(st.sampled_from(pools), offsets), min_size=size // 2, max_size=size, unique=True)
    )
    money_range = st.integers(0, 10**13) if big else st.integers(0, 60) | st.integers(0, 10**7)
    result = []
    for pool, offset in cells:
        memory = draw(st.integers(0, 1000) | st.integers(1, 10**12))
        # a third of them without tenant data: gaps where the engine shows work, idle where it does not
        usage = draw(st.just({}) | usage_maps | usage_maps)
        if big:
            usage = {
                k: Usage(u.kv_token_seconds * 1e4, u.requests, u.prompt_tokens) for k, u in usage.items()
            }
        result.append(
            PoolInterval(
                pool=pool,
                interval_start_s=H + offset,
                interval_seconds=draw(st.sampled_from([60, 3600])),
                cost_usd_micros=draw(money_range),
                memory_bytes=memory,
                kv_capacity_bytes=draw(st.none() | st.integers(0, memory + 10)),
                kv_usage_ratio=draw(ratios),
                kv_bytes_per_token=draw(st.integers(1, 10**6)),
                usage=usage,
                fixed_policy=draw(st.sampled_from(list(FixedPolicy))),
                requests_running=draw(running),
            )
        )
    return result


@st.composite
def reservations(draw: st.DrawFn) -> list[Reservation]:
    chosen = []
    for tenant in draw(st.lists(st.sampled_from(TENANTS), max_size=3)):
        start = H + draw(offsets)
        end = draw(st.none() | st.integers(1, 7200).map(lambda d, s=start: s + d))
        fraction = draw(st.sampled_from([0, 100_000, 250_000]) | st.integers(0, 330_000))
        chosen.append(Reservation(tenant, fraction, start, end))
    return chosen


@st.composite
def scopes(draw: st.DrawFn, pools: list[str]) -> PeriodScope:
    if draw(st.booleans()):
        return WHOLE_WINDOW
    boundary = H + draw(offsets)
    outside = draw(
        st.dictionaries(
            st.sampled_from(["2026-11", "2026-12", "2027-01"]),
            st.dictionaries(
                st.sampled_from([*pools, "elsewhere"]),
                st.dictionaries(
                    st.tuples(st.sampled_from([*TENANTS, "zed"]), st.sampled_from(TIERS)),
                    st.integers(0, 10**6),
                    max_size=3,
                ),
                max_size=2,
            ),
            max_size=2,
        )
    )
    return PeriodScope(lambda s: "2026-11" if s < boundary else "2026-12", outside)


@st.composite
def windows(draw: st.DrawFn, big: bool = False) -> Window:
    pools = ["p", "q", "r"]
    pis = draw(pool_intervals(pools, big))
    amounts = st.integers(0, 10**13) if big else st.integers(0, 10**7)
    cluster = [
        ClusterInterval(
            H + offset, draw(amounts), draw(amounts), draw(st.sampled_from([0, 0, 10**5]) | amounts)
        )
        for offset in draw(st.lists(offsets, max_size=5))
    ]
    idle = st.sampled_from(["share", "separate", "reserved"])
    policies = Policies(
        idle_by_pool=draw(st.dictionaries(st.sampled_from(pools), idle)),
        cluster_idle=draw(idle),
        settlement_window_seconds=draw(st.sampled_from([60, 1800, HOUR, 7200, None])),
        reservations_by_pool=draw(st.dictionaries(st.sampled_from(pools), reservations())),
    )
    return pis, cluster, policies, draw(scopes(pools))


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


# --- the reference's hand-computed tests, through the vectorised engine ---------------------------


def _tests_of(module: ModuleType) -> list[tuple[ModuleType, str]]:
    return [
        (module, name)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("test_")
        and fn.__module__ == module.__name__
        and "attribute_window" in inspect.getsource(fn)
    ]


HAND_TESTS = (
    _tests_of(test_worked_example) + _tests_of(test_attribute) + _tests_of(test_reserved_and_overheads)
)


@pytest.mark.parametrize(
    ("module", "name"), HAND_TESTS, ids=[f"{m.__name__.split('.')[-1]}::{n}" for m, n in HAND_TESTS]
)
def test_the_reference_tests_pass_through_the_vectorised_engine(
    module: ModuleType, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worked example of docs/memory-time-model.md and every hand-computed test of the reference."""
    calls: list[Any] = []

    def engine(pools: Any, cluster: Any, *args: Any, **kwargs: Any) -> Attribution:
        pools, cluster = list(pools), list(cluster)
        calls.append(pools)
        try:
            return vectorised(pools, cluster, *args, **kwargs)
        except NotVectorisableError:
            # outside the exact domain: acceptable only where the reference refuses the input too
            attribute_window(pools, cluster, *args, **kwargs)
            raise AssertionError("the vectorised engine refused what the reference accepts") from None

    monkeypatch.setattr(module, "attribute_window", engine)
    test: Callable[[], None] = getattr(module, name)
    test()
    assert calls, "the test never called the engine"


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
