"""The three kinds of idle (``IdleKind``): where each arises, and that the parts are the whole of idle.

Every idle amount is of one kind, known where it arises, and keeps it through settlement. So a line of a
pool-interval carries only the kind of that interval's idle, a line of the cluster's pools only cold
idle, and each kind's total over the lines is what arose of it less what a gap's missing tenants took
(booked unmeasured). Both engines run through ``engine_impl`` (tests/model/conftest.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings

from attribution.model.attribute import Attribution, ClusterInterval, Policies, attribute_window
from attribution.model.split import Components, Usage, split_pool_interval
from attribution.model.statement import Line, content_hash
from attribution.model.vocabulary import (
    CLUSTER_POOL,
    IDLE,
    IDLE_KINDS,
    NO_TIER,
    OVERHEAD_POOL,
    UNALLOCATED_POOL,
    IdleKind,
)
from tests.support.engines import WindowEngine, vectorised
from tests.support.windows import H, Window, small_pool, windows

SHARE = Policies(idle_by_pool={})
SEPARATE = Policies(idle_by_pool={}, cluster_idle="separate")


def _parts(c: Components) -> dict[str, int]:
    return {k: getattr(c, k) for k in IDLE_KINDS}


# --- a hand-worked example of each kind ----------------------------------------------------------


def test_free_kv_of_an_interval_that_served_is_kv_headroom(engine_impl: WindowEngine) -> None:
    """$1000 over 100 bytes, 40 of them KV, a quarter in use: KV 400 = 100 in use + 300 free; static
    600. The 300 free is headroom, shared 3:1 by token-seconds: a 225, b 75."""
    usage = {("a", "t"): Usage(3.0), ("b", "t"): Usage(1.0)}
    lines = engine_impl([small_pool(usage)], [], SHARE).lines
    assert _parts(lines[(H, "p", "a", "t")]) == {"idle_cold": 0, "idle_warm": 0, "kv_headroom": 225}
    assert _parts(lines[(H, "p", "b", "t")]) == {"idle_cold": 0, "idle_warm": 0, "kv_headroom": 75}
    assert sum(c.kv_in_use for c in lines.values()) == 100
    assert sum(c.static for c in lines.values()) == 600


def test_a_pool_interval_nobody_used_is_idle_warm_whole(engine_impl: WindowEngine) -> None:
    """The minute at H+60 had no traffic and no engine work: all its $1000 (free KV and static) is warm,
    shared within the hour by the weights of the minute at H that served (a alone)."""
    served = small_pool({("a", "t"): Usage(1.0)})
    unused = small_pool({}, interval_start_s=H + 60, kv_usage_ratio=0.0)
    lines = engine_impl([served, unused], [], SHARE).lines
    assert _parts(lines[(H + 60, "p", "a", "t")]) == {"idle_cold": 0, "idle_warm": 1000, "kv_headroom": 0}
    assert _parts(lines[(H, "p", "a", "t")]) == {"idle_cold": 0, "idle_warm": 0, "kv_headroom": 300}


def test_unallocated_gpus_and_overheads_are_idle_cold(engine_impl: WindowEngine) -> None:
    """Under ``separate`` cold idle stays on ``__idle__`` lines of the cluster's pools; pool idle of a
    served interval stays headroom on the pool's own ``__idle__`` line."""
    pool = small_pool({("a", "t"): Usage(1.0)})
    pools = {"p": "separate"}
    lines = engine_impl(
        [pool], [ClusterInterval(H, 700, 0, 50)], Policies(idle_by_pool=pools, cluster_idle="separate")
    ).lines
    idle = (IDLE, NO_TIER)
    assert _parts(lines[(H, UNALLOCATED_POOL, *idle)]) == {"idle_cold": 700, "idle_warm": 0, "kv_headroom": 0}
    assert _parts(lines[(H, OVERHEAD_POOL, *idle)]) == {"idle_cold": 50, "idle_warm": 0, "kv_headroom": 0}
    assert _parts(lines[(H, "p", *idle)]) == {"idle_cold": 0, "idle_warm": 0, "kv_headroom": 300}


def test_cold_idle_shared_across_the_cluster_stays_cold(engine_impl: WindowEngine) -> None:
    pool = small_pool({("a", "t"): Usage(3.0), ("b", "t"): Usage(1.0)})
    lines = engine_impl([pool], [ClusterInterval(H, 1001, 0)], SHARE).lines
    # the weights are non-idle cost: a 75 + 450, b 25 + 150 (KV in use by use, static proportional)
    assert _parts(lines[(H, UNALLOCATED_POOL, "a", "t")])["idle_cold"] == 751
    assert _parts(lines[(H, UNALLOCATED_POOL, "b", "t")])["idle_cold"] == 250
    assert lines[(H, UNALLOCATED_POOL, "a", "t")].idle == 751


def test_a_gap_leaves_headroom_not_warm() -> None:
    """The engine worked but no tenant data came: someone was served, so the free KV is headroom."""
    split = split_pool_interval(small_pool({}, requests_running=2.0))
    assert split.gap and split.idle_kind is IdleKind.HEADROOM
    assert split_pool_interval(small_pool({}, kv_usage_ratio=None)).idle_kind is IdleKind.WARM


# --- every line of random windows, both engines ----------------------------------------------------


def _check_kinds(window: Window, result: Attribution) -> None:
    pools, cluster, _, _ = window
    kinds = {(s.interval_start_s, s.pool): s.idle_kind for s in result.splits}
    for (start, pool, _, _), c in result.lines.items():
        parts = _parts(c)
        assert c.idle == sum(parts.values())
        assert c.total == c.kv_in_use + c.static + c.unmeasured + c.recovery + sum(parts.values())
        if pool in (UNALLOCATED_POOL, OVERHEAD_POOL, CLUSTER_POOL):
            allowed = {IdleKind.COLD.value}
        else:
            allowed = {kinds[(start, pool)].value}
        assert {k for k, v in parts.items() if v} <= allowed, (start, pool, parts)
    # each kind's total is what arose of it, less what gaps' missing tenants took as unmeasured
    arose = dict.fromkeys(IDLE_KINDS, 0)
    arose[IdleKind.COLD.value] = sum(ci.unallocated_usd_micros + ci.overhead_usd_micros for ci in cluster)
    for s in result.splits:
        arose[s.idle_kind.value] += s.idle_usd_micros
    booked = {k: sum(getattr(c, k) for c in result.lines.values()) for k in IDLE_KINDS}
    direct = sum(s.unmeasured_usd_micros for s in result.splits)
    direct += sum(ci.unmeasured_usd_micros for ci in cluster)
    taken_by_gaps = sum(c.unmeasured for c in result.lines.values()) - direct
    assert all(booked[k] <= arose[k] for k in IDLE_KINDS)
    assert sum(arose[k] - booked[k] for k in IDLE_KINDS) == taken_by_gaps
    if not any(s.gap for s in result.splits):
        assert booked == arose
    assert sum(p.cost_usd_micros for p in pools) + arose[IdleKind.COLD.value] + sum(
        ci.unmeasured_usd_micros for ci in cluster
    ) == sum(c.total for c in result.lines.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows())
def test_every_line_carries_idle_as_its_three_kinds(engine_impl: WindowEngine, window: Window) -> None:
    pools, cluster, policies, scope = window
    _check_kinds(window, engine_impl(pools, cluster, policies, scope))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windows())
def test_the_engines_agree_on_every_part(window: Window) -> None:
    pools, cluster, policies, scope = window
    expected = attribute_window(pools, cluster, policies, scope)
    actual = vectorised(pools, cluster, policies, scope)
    got = {k: _parts(c) for k, c in actual.lines.items()}
    assert got == {k: _parts(c) for k, c in expected.lines.items()}
    assert [s.idle_kind for s in actual.splits] == [s.idle_kind for s in expected.splits]


def test_the_content_hash_covers_idle_but_not_its_kinds() -> None:
    """A statement closed before the kinds existed still verifies from its lines as served now."""
    fields: dict[str, Any] = {
        **dict.fromkeys(("charge_class", "charge_period", "pool", "tenant", "tier"), "x"),
        **dict.fromkeys(("kv_in_use_usd_micros", "static_usd_micros", "unmeasured_usd_micros"), 0),
        **dict.fromkeys(("requests", "prompt_tokens", "generation_tokens", "total_cents"), 0),
        "kv_token_seconds": 0.0,
        "kv_byte_seconds": 0.0,
        "idle_usd_micros": 5,
        "total_usd_micros": 5,
    }
    cold = Line(**fields, idle_cold_usd_micros=5, idle_warm_usd_micros=0, kv_headroom_usd_micros=0)
    headroom = replace(cold, idle_cold_usd_micros=0, kv_headroom_usd_micros=5)
    assert content_hash("2026-11", [cold]) == content_hash("2026-11", [headroom])
    assert content_hash("2026-11", [cold]) != content_hash("2026-11", [replace(cold, idle_usd_micros=6)])
