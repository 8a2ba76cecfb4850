"""Gaps are gaps: a pool-interval whose engine worked while no tenant data arrived is billed to
``__unmeasured__``, exactly what its tenants would otherwise have paid (docs/memory-time-model.md).

"Otherwise" is derived here by running the model on a counterfactual window: each gap gets one
stand-in tenant (any positive usage), which is what the gateway would have reported had it reported the
missing tenants as one. Its non-idle cost (KV in use and static) is then the gap's whole non-idle cost,
and its idle share is what the missing tenants' weight draws. The gap's ``__unmeasured__`` lines must
equal that to the micro-dollar, and every other line must be untouched: the other tenants pay exactly
what they would have paid had the gap been measured.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution.model.attribute import (
    WHOLE_WINDOW,
    Attribution,
    Policies,
    attribute_window,
)
from attribution.model.split import PoolInterval, Usage, split_pool_interval
from attribution.model.vectorized import attribute_window_vectorized
from attribution.model.vocabulary import CLUSTER_POOL, IDLE, NO_TIER, UNMEASURED
from tests.support.windows import Window, pool_intervals, windows

STAND_IN = (UNMEASURED, NO_TIER)
vectorised = functools.partial(attribute_window_vectorized, split_lines=True, fallback=False)


def counterfactual(pools: list[PoolInterval]) -> list[PoolInterval]:
    """Each gap with one stand-in tenant holding its usage. Where the gap had no KV reading its KV in
    use was 0 (no tokens to estimate from); a reading of 0 keeps it 0 with the stand-in's tokens."""
    out = []
    for p in pools:
        ratio = 0.0 if p.kv_usage_ratio is None else p.kv_usage_ratio
        gap = split_pool_interval(p).gap
        out.append(dataclasses.replace(p, usage={STAND_IN: Usage(1.0)}, kv_usage_ratio=ratio) if gap else p)
    return out


def gap_lines(result: Attribution) -> dict[tuple[int, str], int]:
    """``__unmeasured__`` money on every line outside the cluster's own (unsampled GPUs) line."""
    return {
        (k[0], k[1]): c.total
        for k, c in result.lines.items()
        if (k[2], k[3]) == STAND_IN and k[1] != CLUSTER_POOL and c.total
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows())
def test_unmeasured_is_exactly_what_the_gap_s_tenants_would_otherwise_have_paid(window: Window) -> None:
    pools, cluster, policies, scope = window
    actual = attribute_window(pools, cluster, policies, scope)
    otherwise = attribute_window(counterfactual(pools), cluster, policies, scope)
    # conservation: every pool-interval's and cluster interval's cost is on some line
    expected_total = sum(p.cost_usd_micros for p in pools) + sum(
        c.unallocated_usd_micros + c.overhead_usd_micros + c.unmeasured_usd_micros for c in cluster
    )
    assert actual.total_usd_micros == otherwise.total_usd_micros == expected_total
    # every tenant's line is what it would have been; the stand-in's money is unmeasured, all of it
    for key in actual.lines.keys() | otherwise.lines.keys():
        mine, theirs = actual.lines.get(key), otherwise.lines.get(key)
        if (key[2], key[3]) != STAND_IN:
            assert mine == theirs, key
    assert gap_lines(actual) == gap_lines(otherwise)
    for key, c in actual.lines.items():
        if (key[2], key[3]) == STAND_IN:
            assert (c.kv_in_use, c.static, c.idle) == (0, 0, 0)
    assert vectorised(pools, cluster, policies, scope).lines == actual.lines


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_intervals(["p", "q"], big=False))
def test_gap_unmeasured_is_its_non_idle_cost_plus_its_weight_s_share_of_idle(
    pools: list[PoolInterval],
) -> None:
    """By arithmetic, under ``share`` over one settlement window (the whole window): per pool,
    unmeasured = the gaps' non-idle cost (KV in use + static) + each idle amount x the gaps' weight /
    the pool's weight, within one micro-dollar per idle amount (largest remainder). The cluster's
    policy is ``separate``, so a pool without weights keeps its idle on an ``__idle__`` line."""
    window_seconds = None
    policies = Policies(
        {"p": "share", "q": "share"}, cluster_idle="separate", settlement_window_seconds=window_seconds
    )
    result = attribute_window(pools, [], policies, WHOLE_WINDOW)
    by_window: dict[tuple[str, int | None], list[PoolInterval]] = defaultdict(list)
    for p in pools:
        key = p.interval_start_s // window_seconds if window_seconds else None
        by_window[(p.pool, key)].append(p)
    for (pool, _), members in by_window.items():
        splits = [split_pool_interval(p) for p in members]
        gap_weight = sum(s.kv_in_use_usd_micros + s.static_usd_micros for s in splits if s.gap)
        weight = gap_weight + sum(c.non_idle for s in splits for c in s.lines.values())
        idle = [s.idle_usd_micros for s in splits if s.idle_usd_micros]
        starts = {p.interval_start_s for p in members}
        unmeasured = sum(
            c.unmeasured
            for k, c in result.lines.items()
            if k[1] == pool and k[0] in starts and (k[2], k[3]) == STAND_IN
        )
        idle_lines = sum(
            c.idle for k, c in result.lines.items() if k[1] == pool and k[0] in starts and k[2] == IDLE
        )
        if weight == 0:
            assert unmeasured == gap_weight == 0
            continue
        assert idle_lines == 0  # a window with weights settles all its idle on them
        exact = gap_weight + sum(amount * gap_weight for amount in idle) / weight
        assert abs(unmeasured - exact) <= len(idle)
        if gap_weight and gap_weight == weight:  # only the gaps' tenants: all of it
            assert unmeasured == sum(s.cost_usd_micros - s.recovery_usd_micros for s in splits)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_intervals(["p", "q"], big=False), st.sampled_from([60, 1800, 3600]))
def test_a_tenant_with_no_usage_in_a_window_never_pays_for_a_gap_in_it(
    pools: list[PoolInterval], window_seconds: int
) -> None:
    """Under ``share`` (the default), in a pool's settlement window with a gap holding a weight, every
    tenant line belongs to a tenant that used the pool in that window: the period fallback, which
    used to hand such a window's idle to the month's tenants, is never taken."""
    result = attribute_window(pools, [], Policies({}, settlement_window_seconds=window_seconds))
    users: dict[tuple[str, int], set[str]] = defaultdict(set)
    gapped: set[tuple[str, int]] = set()
    for p in pools:
        split = split_pool_interval(p)
        window = (p.pool, p.interval_start_s // window_seconds)
        users[window].update(k[0] for k in split.lines)
        if split.gap and split.unmeasured_usd_micros:
            gapped.add(window)
    for (start, pool, tenant, _), c in result.lines.items():
        window = (pool, start // window_seconds)
        if window in gapped and c.total and not tenant.startswith("__"):
            assert tenant in users[window], (window, tenant)
