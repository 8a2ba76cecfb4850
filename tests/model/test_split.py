"""Splitting one pool-interval's cost into KV in use, KV free and static (MODEL.md, "Splitting")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.split import (
    LineKey,
    PoolInterval,
    PoolSplit,
    Usage,
    split_pool_interval,
)

C = 1_000_000
A = ("a", "short")
B = ("b", "short")


def pool_interval(
    usage: Mapping[LineKey, Usage],
    *,
    cost: int = C,
    memory: int = 100,
    kv_capacity: int | None = 60,
    ratio: float | None = 0.5,
    bytes_per_token: int = 1,
    fixed_policy: str = "proportional",
    seconds: int = 60,
    running: float | None = None,
) -> PoolInterval:
    return PoolInterval(
        pool="p",
        interval_start_s=1_793_577_600,
        interval_seconds=seconds,
        cost_usd_micros=cost,
        memory_bytes=memory,
        kv_capacity_bytes=kv_capacity,
        kv_usage_ratio=ratio,
        kv_bytes_per_token=bytes_per_token,
        usage=usage,
        fixed_policy=fixed_policy,
        requests_running=running,
    )


def totals_of(split: PoolSplit) -> dict[LineKey, int]:
    return {k: c.total for k, c in split.lines.items()}


def assert_conserved(split: PoolSplit) -> None:
    lines = sum(c.total for c in split.lines.values())
    assert lines + split.idle_usd_micros + split.unmeasured_usd_micros == split.cost_usd_micros
    assert (
        split.kv_in_use_usd_micros + split.kv_free_usd_micros + split.static_usd_micros
        == split.cost_usd_micros
    )


# --- the worked example -------------------------------------------------------------------------


def test_worked_example() -> None:
    # C = 1,000,000; M = 100; K = 60; u = 0.5: KV in use 30 B, KV free 30 B, static 40 B
    split = split_pool_interval(pool_interval({A: Usage(10.0), B: Usage(30.0)}))
    assert split.kv_in_use_bytes == 30
    assert split.kv_in_use_usd_micros == 300_000
    assert split.kv_free_usd_micros == 300_000
    assert split.static_usd_micros == 400_000
    assert split.idle_usd_micros == 300_000
    assert split.unmeasured_usd_micros == 0
    assert not split.estimated
    assert (split.lines[A].kv_in_use, split.lines[A].static) == (75_000, 100_000)
    assert (split.lines[B].kv_in_use, split.lines[B].static) == (225_000, 300_000)
    assert all(c.idle == 0 and c.unmeasured == 0 for c in split.lines.values())
    assert_conserved(split)


def test_a_gap_puts_kv_in_use_and_static_on_unmeasured() -> None:
    """The engine holds KV (u = 0.5) and no tenant data arrived: a telemetry gap, not idle. Static is the
    missing tenants' too (it was 400,000 of idle before, billed to the pool's other tenants)."""
    split = split_pool_interval(pool_interval({}))
    assert split.lines == {}
    assert split.gap
    assert split.unmeasured_usd_micros == 300_000 + 400_000
    assert split.idle_usd_micros == 300_000  # KV free: settled later, where the gap holds a weight
    assert_conserved(split)


def test_requests_running_alone_make_a_gap() -> None:
    """No KV reading (or a zero one) but requests running: the engine worked, so it is a gap too."""
    for ratio in (None, 0.0):
        split = split_pool_interval(pool_interval({}, ratio=ratio, running=2.5))
        assert split.gap
        assert (split.kv_in_use_usd_micros, split.unmeasured_usd_micros) == (0, 400_000)
        assert split.idle_usd_micros == 600_000
    for running in (0.0, -1.0, math.nan, None):
        split = split_pool_interval(pool_interval({}, ratio=0.0, running=running))
        assert not split.gap and split.idle_usd_micros == C


def test_rows_with_zero_token_seconds_count_as_no_tenant_data() -> None:
    """Flat gateway counters (rows of zeros) while the engine works are a gap like absent ones."""
    split = split_pool_interval(pool_interval({A: Usage(0.0, requests=3), B: Usage(0.0004)}))
    assert split.lines == {}
    assert split.gap
    assert split.unmeasured_usd_micros == 700_000
    assert split.idle_usd_micros == 300_000


def test_idle_pool_with_no_kv_in_use_is_all_idle() -> None:
    split = split_pool_interval(pool_interval({}, ratio=0.0))
    assert split.unmeasured_usd_micros == 0
    assert split.idle_usd_micros == C


def test_missing_kv_reading_is_estimated_from_token_seconds_and_flagged() -> None:
    # 600 + 1,200 token-seconds over 60 s: 30 tokens held on average x 1 B per token = 30 B of 60
    usage = {A: Usage(600.0), B: Usage(1200.0)}
    split = split_pool_interval(pool_interval(usage, ratio=None))
    assert split.estimated
    assert split.kv_in_use_bytes == 30
    assert split.kv_in_use_usd_micros == 300_000
    assert split.static_usd_micros == 400_000
    assert split.lines[A].kv_in_use == 100_000
    assert split.lines[B].kv_in_use == 200_000
    # 400,000 x 1/3 = 133,333.33 and x 2/3 = 266,666.67: the spare micro-dollar to the larger
    assert split.lines[A].static == 133_333
    assert split.lines[B].static == 266_667
    assert_conserved(split)


def test_estimate_is_capped_at_the_kv_capacity() -> None:
    split = split_pool_interval(pool_interval({A: Usage(1e9)}, ratio=None))
    assert split.estimated
    assert split.kv_in_use_bytes == 60
    assert split.kv_in_use_usd_micros == 600_000
    assert split.kv_free_usd_micros == 0


def test_missing_kv_capacity_is_flagged_and_everything_is_static() -> None:
    split = split_pool_interval(pool_interval({A: Usage(10.0), B: Usage(30.0)}, kv_capacity=None))
    assert split.estimated
    assert split.kv_capacity_bytes == 0
    assert split.static_usd_micros == C
    assert totals_of(split) == {A: 250_000, B: 750_000}
    assert split.idle_usd_micros == 0


@pytest.mark.parametrize(("ratio", "in_use"), [(1.7, 60), (-0.2, 0), (1.0, 60), (0.0, 0)])
def test_usage_ratio_is_clamped_to_zero_and_one(ratio: float, in_use: int) -> None:
    split = split_pool_interval(pool_interval({A: Usage(10.0)}, ratio=ratio))
    assert not split.estimated
    assert split.kv_in_use_bytes == in_use
    assert split.kv_in_use_usd_micros == in_use * 10_000


def test_kv_capacity_larger_than_memory_is_capped() -> None:
    split = split_pool_interval(pool_interval({A: Usage(10.0)}, kv_capacity=500, ratio=0.5))
    assert split.kv_capacity_bytes == 100
    assert split.kv_in_use_usd_micros == 500_000
    assert split.static_usd_micros == 0


# --- fixed policies -----------------------------------------------------------------------------


def test_proportional_is_the_default_fixed_policy() -> None:
    usage = {A: Usage(10.0, prompt_tokens=900), B: Usage(30.0, prompt_tokens=100)}
    assert split_pool_interval(pool_interval(usage)) == split_pool_interval(
        pool_interval(usage, fixed_policy="proportional")
    )


def test_even_policy_splits_static_equally_across_active_tenants() -> None:
    a_long = ("a", "long")
    usage = {A: Usage(10.0), a_long: Usage(30.0), B: Usage(60.0), ("c", "short"): Usage(0.0)}
    split = split_pool_interval(pool_interval(usage, fixed_policy="even"))
    # static 400,000: 200,000 each to a and b (c holds nothing: not active); a's by its tiers 1:3
    assert split.lines[A].static == 50_000
    assert split.lines[a_long].static == 150_000
    assert split.lines[B].static == 200_000
    assert ("c", "short") not in split.lines
    # KV in use still by token-seconds: 300,000 x 10, 30, 60 / 100
    assert [split.lines[k].kv_in_use for k in (A, a_long, B)] == [30_000, 90_000, 180_000]
    assert_conserved(split)


def test_even_policy_with_three_tenants_keeps_the_total() -> None:
    usage = {(t, "short"): Usage(1.0) for t in "xyz"}
    split = split_pool_interval(pool_interval(usage, fixed_policy="even"))
    assert sorted(c.static for c in split.lines.values()) == [133_333, 133_333, 133_334]


def test_tokens_policy_splits_static_by_prompt_and_generated_tokens() -> None:
    # token-seconds 1:3 but tokens 3:1 (a: 200 + 100, b: 60 + 40)
    usage = {
        A: Usage(10.0, prompt_tokens=200, generation_tokens=100),
        B: Usage(30.0, prompt_tokens=60, generation_tokens=40),
    }
    split = split_pool_interval(pool_interval(usage, fixed_policy="tokens"))
    assert split.lines[A].static == 300_000
    assert split.lines[B].static == 100_000
    assert split.lines[A].kv_in_use == 75_000
    assert split.lines[B].kv_in_use == 225_000
    assert_conserved(split)


def test_tokens_policy_without_token_counts_falls_back_to_token_seconds() -> None:
    usage = {A: Usage(10.0), B: Usage(30.0)}
    split = split_pool_interval(pool_interval(usage, fixed_policy="tokens"))
    assert split.lines[A].static == 100_000
    assert split.lines[B].static == 300_000


# --- properties ---------------------------------------------------------------------------------

tenants = st.sampled_from(["acme", "globex", "initech", "umbrella", "__unallocated__"])
tiers = st.sampled_from(["0-4k", "4k-32k", "32k-128k", "128k+"])
usages = st.builds(
    Usage,
    kv_token_seconds=st.one_of(
        st.just(0.0),
        st.integers(min_value=1, max_value=20).map(float),
        st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False),
    ),
    requests=st.integers(min_value=0, max_value=10_000),
    prompt_tokens=st.integers(min_value=0, max_value=10**7),
    generation_tokens=st.integers(min_value=0, max_value=10**6),
)
usage_maps = st.dictionaries(st.tuples(tenants, tiers), usages, max_size=8)
policies = st.sampled_from(["proportional", "even", "tokens"])


@st.composite
def pool_intervals(draw: st.DrawFn, usage: Any = usage_maps) -> PoolInterval:
    memory = draw(st.integers(1, 200) | st.integers(1, 10**12))
    return pool_interval(
        draw(usage),
        cost=draw(st.integers(0, 50) | st.integers(-(10**6), 10**10)),
        memory=memory,
        kv_capacity=draw(st.none() | st.integers(min_value=0, max_value=2 * memory)),
        ratio=draw(st.none() | st.floats(-0.5, 1.5)),
        bytes_per_token=draw(st.integers(min_value=1, max_value=2_000_000)),
        fixed_policy=draw(policies),
        seconds=draw(st.sampled_from([15, 60, 300])),
        running=draw(st.none() | st.sampled_from([0.0, 1.0, math.nan]) | st.floats(-1, 64)),
    )


@given(pool_intervals())
def test_lines_idle_and_unmeasured_sum_exactly_to_the_pool_cost(pi: PoolInterval) -> None:
    split = split_pool_interval(pi)
    assert_conserved(split)
    if split.lines:
        assert sum(c.kv_in_use for c in split.lines.values()) == split.kv_in_use_usd_micros
        assert sum(c.static for c in split.lines.values()) == split.static_usd_micros
        assert split.idle_usd_micros == split.kv_free_usd_micros
        assert split.unmeasured_usd_micros == 0
    elif split.gap:
        assert pi.engine_active
        assert split.unmeasured_usd_micros == split.kv_in_use_usd_micros + split.static_usd_micros
        assert split.idle_usd_micros == split.kv_free_usd_micros
    else:
        assert not pi.engine_active
        assert split.unmeasured_usd_micros == split.kv_in_use_usd_micros == 0
        assert split.idle_usd_micros == split.kv_free_usd_micros + split.static_usd_micros
    assert all(c.idle == 0 and c.unmeasured == 0 for c in split.lines.values())
    assert 0 <= split.kv_in_use_bytes <= split.kv_capacity_bytes <= max(pi.memory_bytes, 1)
    assert split.estimated == (pi.kv_usage_ratio is None or pi.kv_capacity_bytes is None)


@given(pool_intervals(usage=st.just({})))
def test_without_tenant_data_nothing_is_billed_to_a_tenant(pi: PoolInterval) -> None:
    split = split_pool_interval(pi)
    assert split.lines == {}
    assert split.gap == pi.engine_active
    assert split.unmeasured_usd_micros == split.kv_in_use_usd_micros + split.gap * split.static_usd_micros
    assert split.unmeasured_usd_micros + split.idle_usd_micros == pi.cost_usd_micros


@given(pool_intervals(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_the_usage_mapping_s_order(pi: PoolInterval, rnd: Random) -> None:
    items = list(pi.usage.items())
    rnd.shuffle(items)
    shuffled = pool_interval(
        dict(items),
        cost=pi.cost_usd_micros,
        memory=pi.memory_bytes,
        kv_capacity=pi.kv_capacity_bytes,
        ratio=pi.kv_usage_ratio,
        bytes_per_token=pi.kv_bytes_per_token,
        fixed_policy=pi.fixed_policy,
        seconds=pi.interval_seconds,
        running=pi.requests_running,
    )
    first, second = split_pool_interval(pi), split_pool_interval(shuffled)
    assert first == second
    assert list(first.lines) == list(second.lines)


@settings(max_examples=200)
@given(
    pool_intervals(
        usage=st.dictionaries(st.tuples(tenants, tiers), usages, min_size=1, max_size=8).filter(
            lambda u: any(x.weight for x in u.values())
        )
    ),
    st.data(),
)
def test_more_token_seconds_never_cost_a_tenant_less(pi: PoolInterval, data: st.DataObject) -> None:
    """MODEL.md invariant 4 in a pool-interval: all else equal (the KV reading, the tokens), raising
    one tenant x tier's token-seconds never lowers that line's total nor the tenant's total."""
    if pi.cost_usd_micros < 0:
        pi = pool_interval(
            pi.usage,
            cost=-pi.cost_usd_micros,
            memory=pi.memory_bytes,
            kv_capacity=pi.kv_capacity_bytes,
            ratio=pi.kv_usage_ratio,
            bytes_per_token=pi.kv_bytes_per_token,
            fixed_policy=pi.fixed_policy,
            seconds=pi.interval_seconds,
        )
    key = data.draw(st.sampled_from(sorted(pi.usage)))
    extra = data.draw(st.floats(min_value=0.001, max_value=1e7, allow_nan=False))
    old = pi.usage[key]
    raised_usage = dict(pi.usage)
    raised_usage[key] = Usage(
        old.kv_token_seconds + extra, old.requests, old.prompt_tokens, old.generation_tokens
    )
    raised = pool_interval(
        raised_usage,
        cost=pi.cost_usd_micros,
        memory=pi.memory_bytes,
        kv_capacity=pi.kv_capacity_bytes,
        ratio=pi.kv_usage_ratio,
        bytes_per_token=pi.kv_bytes_per_token,
        fixed_policy=pi.fixed_policy,
        seconds=pi.interval_seconds,
    )
    before, after = split_pool_interval(pi), split_pool_interval(raised)

    def line_total(split: PoolSplit) -> int:
        comp = split.lines.get(key)
        return comp.total if comp else 0

    def tenant_total(split: PoolSplit) -> int:
        return sum(c.total for k, c in split.lines.items() if k[0] == key[0])

    assert line_total(after) >= line_total(before)
    assert tenant_total(after) >= tenant_total(before)


def test_more_token_seconds_in_one_tier_never_costs_the_tenant_less_by_hand() -> None:
    """Tenant a holds 3 + 2 token-seconds in two tiers, b holds 1; all of C = 3 micro-USD is KV in
    use.

    Exact shares 1.5, 1.0 and 0.5: a pays 3 (the tied half goes to the larger weight), b 0. When a's
    short tier grows to 3 token-seconds, a holds 6 of 7 (exact 2.57): a must still pay 3, not 2.
    """
    a_long = ("a", "long")
    whole_kv = {"cost": 3, "memory": 100, "kv_capacity": 100, "ratio": 1.0}
    usage = {a_long: Usage(3.0), A: Usage(2.0), B: Usage(1.0)}
    before = split_pool_interval(pool_interval(usage, **whole_kv))
    after = split_pool_interval(pool_interval({**usage, A: Usage(3.0)}, **whole_kv))
    assert before.lines[a_long].total + before.lines[A].total == 3
    assert before.lines[B].total == 0
    assert after.lines[a_long].total + after.lines[A].total == 3
    assert after.lines[B].total == 0


def test_a_static_share_does_not_move_with_the_kv_reading_by_hand() -> None:
    """M = 5 B, K = 4 B, C = 3 micro-USD, no engine reading: KV in use is estimated from
    token-seconds (1 B per token, 1 s intervals). Static is C x (M - K) / M = 0.6 whatever the KV
    use, so it rounds to the same micro-dollar before and after a holds one more token-second: a
    must not pay less."""
    tiny = {"cost": 3, "memory": 5, "kv_capacity": 4, "ratio": None, "seconds": 1}
    before = split_pool_interval(pool_interval({A: Usage(1.0), B: Usage(1.0)}, **tiny))
    after = split_pool_interval(pool_interval({A: Usage(2.0), B: Usage(1.0)}, **tiny))
    assert (before.kv_in_use_bytes, after.kv_in_use_bytes) == (2, 3)
    assert before.static_usd_micros == after.static_usd_micros == 1
    assert after.lines[A].total >= before.lines[A].total


@pytest.mark.parametrize("policy", ["proportional", "even", "tokens"])
@pytest.mark.parametrize(("memory", "kv_capacity", "ratio"), [(10, 10, 1.0), (10, 6, 0.5)])
def test_more_token_seconds_never_costs_a_tenant_less_exhaustively_at_small_scale(
    policy: str, memory: int, kv_capacity: int, ratio: float
) -> None:
    """Rounding is where monotonicity breaks, and it shows at a few micro-dollars: try them all.
    Tenant a holds token-seconds in two tiers, b in one; a's short tier grows from 1 to 5."""
    a_long = ("a", "long")
    shape = {"memory": memory, "kv_capacity": kv_capacity, "ratio": ratio, "fixed_policy": policy}

    def a_total(cost: int, long_ts: int, short_ts: int, b_ts: int) -> tuple[int, int]:
        usage = {
            a_long: Usage(float(long_ts), prompt_tokens=long_ts),
            A: Usage(float(short_ts), prompt_tokens=2),
            B: Usage(float(b_ts), prompt_tokens=b_ts + 1),
        }
        split = split_pool_interval(pool_interval(usage, cost=cost, **shape))
        return split.lines[A].total, split.lines[a_long].total + split.lines[A].total

    for cost in range(1, 12):
        for long_ts in range(1, 5):
            for b_ts in range(1, 5):
                line, tenant = a_total(cost, long_ts, 1, b_ts)
                for short_ts in range(2, 6):
                    raised_line, raised_tenant = a_total(cost, long_ts, short_ts, b_ts)
                    assert raised_line >= line, (cost, long_ts, short_ts, b_ts)
                    assert raised_tenant >= tenant, (cost, long_ts, short_ts, b_ts)
                    line, tenant = raised_line, raised_tenant


@pytest.mark.parametrize("policy", ["proportional", "even"])
def test_more_token_seconds_never_costs_less_when_kv_use_is_estimated_small_scale(
    policy: str,
) -> None:
    """No engine reading: KV in use follows token-seconds (1 B per token, 1 s), so raising a's
    token-seconds moves cost from KV free to KV in use; a must never pay less for it."""
    for memory in range(1, 8):
        for kv_capacity in range(memory + 1):
            shape = {"memory": memory, "kv_capacity": kv_capacity, "ratio": None, "seconds": 1}
            for cost in range(1, 11):
                for b_ts in range(1, 4):
                    totals = [
                        split_pool_interval(
                            pool_interval(
                                {A: Usage(float(a_ts)), B: Usage(float(b_ts))},
                                cost=cost,
                                fixed_policy=policy,
                                **shape,
                            )
                        )
                        .lines[A]
                        .total
                        for a_ts in range(1, 6)
                    ]
                    assert totals == sorted(totals), (memory, kv_capacity, cost, b_ts, totals)


def test_a_non_finite_reading_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="must be finite"):
        _ = Usage(float("nan")).weight
    with pytest.raises(ValueError, match="must be finite"):
        _ = Usage(float("inf")).weight
