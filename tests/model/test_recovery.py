"""Recovery: a pool-interval inside an incident costs ``recovery``, paid by ``Policies.recovery``.

Hand-worked cases on both engines (``engine_impl``), and over random windows: the lines' recovery is
exactly the recovering pool-intervals' cost under either policy, it lands only where its policy sends it,
the engines agree on it to the micro-dollar, and every line's idle is exactly its three kinds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from typing import Any

from hypothesis import given, settings

from attribution.model.attribute import Attribution, ClusterInterval, Policies, attribute_window
from attribution.model.split import Components, Usage, split_pool_interval
from attribution.model.statement import Line, content_hash
from attribution.model.vocabulary import (
    IDLE,
    IDLE_KINDS,
    NO_TIER,
    RECOVERY,
    IdleKind,
    RecoveryPolicy,
)
from tests.support.engines import WindowEngine, vectorised
from tests.support.windows import H, Window, small_pool, windows

SERVED = small_pool({("a", "t"): Usage(3.0), ("b", "t"): Usage(1.0)})
DOWN = small_pool({}, interval_start_s=H + 60, kv_usage_ratio=None, cost_usd_micros=777, recovering=True)


def test_a_recovering_interval_is_recovery_whole_never_idle_or_unmeasured() -> None:
    split = split_pool_interval(small_pool({}, recovering=True, requests_running=3.0))
    assert (split.recovery_usd_micros, split.idle_usd_micros, split.unmeasured_usd_micros) == (1000, 0, 0)
    assert not split.gap and split.lines == {}


def test_platform_recovery_is_one_line_of_the_pool(engine_impl: WindowEngine) -> None:
    """The default policy: the minute's $777 on ``__recovery__`` of the pool; nobody's idle moves."""
    lines = engine_impl([SERVED, DOWN], [], Policies(idle_by_pool={})).lines
    assert lines[(H + 60, "p", RECOVERY, NO_TIER)] == Components(recovery=777)
    assert sum(c.recovery for c in lines.values()) == 777
    assert lines[(H, "p", "a", "t")].kv_headroom == 225  # as without the incident


def test_shared_recovery_goes_by_non_idle_cost_and_stays_recovery(engine_impl: WindowEngine) -> None:
    """``share``: $777 by the hour's non-idle cost, a 525 : b 175 (KV 75 + static 450; 25 + 150):
    582.75 and 194.25, to 583 and 194 by largest remainder."""
    lines = engine_impl([SERVED, DOWN], [], Policies(idle_by_pool={}, recovery="share")).lines
    assert lines[(H + 60, "p", "a", "t")].recovery == 583
    assert lines[(H + 60, "p", "b", "t")].recovery == 194
    assert all(c.idle == 0 for k, c in lines.items() if k[0] == H + 60)


def test_shared_recovery_with_nobody_in_the_pool_falls_to_the_cluster_then_its_line(
    engine_impl: WindowEngine,
) -> None:
    other = small_pool({("c", "t"): Usage(1.0)}, pool="q")
    lines = engine_impl([DOWN, other], [], Policies(idle_by_pool={}, recovery="share")).lines
    assert lines[(H + 60, "p", "c", "t")].recovery == 777  # the cluster's weights: c alone
    alone = engine_impl([DOWN], [], Policies(idle_by_pool={}, recovery="share")).lines
    assert alone == {(H + 60, "p", RECOVERY, NO_TIER): Components(recovery=777)}


def test_usage_inside_an_incident_does_not_make_it_served(engine_impl: WindowEngine) -> None:
    """The model trusts the detector's flag: the interval's cost is recovery even with usage (the
    detector never flags an interval the gateway reports served, so this does not arise from the job)."""
    down = small_pool({("a", "t"): Usage(5.0)}, recovering=True)
    assert engine_impl([down], [], Policies(idle_by_pool={})).lines == {
        (H, "p", RECOVERY, NO_TIER): Components(recovery=1000)
    }


def test_each_idle_kind_follows_its_own_policy(engine_impl: WindowEngine) -> None:
    """Headroom shared, warm kept on ``__idle__``, cold kept too: three policies in one window."""
    unused = small_pool({}, interval_start_s=H + 120, kv_usage_ratio=0.0)
    policies = Policies(
        idle_by_pool={"p": "share"},
        idle_kinds_by_pool={"p": {IdleKind.WARM: "separate"}},
        cold_idle="separate",
    )
    lines = engine_impl([SERVED, unused], [ClusterInterval(H, 500, 0)], policies).lines
    assert lines[(H, "p", "a", "t")].kv_headroom == 225
    assert lines[(H + 120, "p", IDLE, NO_TIER)].idle_warm == 1000
    assert lines[(H, "__unallocated__", IDLE, NO_TIER)].idle_cold == 500
    shared = engine_impl([SERVED, unused], [ClusterInterval(H, 500, 0)], Policies(idle_by_pool={})).lines
    assert (H + 120, "p", IDLE, NO_TIER) not in shared
    assert lines[(H, "p", "a", "t")] == shared[(H, "p", "a", "t")]


def _check(window: Window, result: Attribution) -> None:
    pools, _, policies, _ = window
    arose = sum(p.cost_usd_micros for p in pools if p.recovering)
    assert sum(c.recovery for c in result.lines.values()) == arose
    for (_, _, tenant, _), c in result.lines.items():
        assert c.idle_cold + c.idle_warm + c.kv_headroom == c.idle
        assert c.total == c.kv_in_use + c.static + c.idle + c.unmeasured + c.recovery
        if c.recovery and policies.recovery is RecoveryPolicy.PLATFORM:
            assert tenant == RECOVERY
        if tenant == RECOVERY:
            assert c == Components(recovery=c.recovery)


@settings(max_examples=300, deadline=None)
@given(windows())
def test_recovery_is_exactly_the_recovering_cost_on_every_window(
    engine_impl: WindowEngine, window: Window
) -> None:
    _check(window, engine_impl(*window))


@settings(max_examples=200, deadline=None)
@given(windows())
def test_the_engines_agree_on_recovery_and_every_idle_kind(window: Window) -> None:
    fields = (*IDLE_KINDS, "recovery", "unmeasured")
    expected = attribute_window(*window).lines
    actual = vectorised(*window).lines
    assert {k: [getattr(c, f) for f in fields] for k, c in actual.items()} == {
        k: [getattr(c, f) for f in fields] for k, c in expected.items()
    }


def test_the_content_hash_covers_recovery_only_where_it_is_not_zero() -> None:
    """A statement closed before recovery existed (its lines have none) hashes as it did; a line with
    recovery hashes differently from the same line without it."""
    fields: dict[str, Any] = {
        **dict.fromkeys(("charge_class", "charge_period", "pool", "tenant", "tier"), "x"),
        **dict.fromkeys(("kv_in_use_usd_micros", "static_usd_micros", "unmeasured_usd_micros"), 0),
        **dict.fromkeys(("requests", "prompt_tokens", "generation_tokens", "total_cents"), 0),
        **dict.fromkeys(("idle_cold_usd_micros", "idle_warm_usd_micros", "kv_headroom_usd_micros"), 0),
        "kv_token_seconds": 0.0,
        "kv_byte_seconds": 0.0,
        "idle_usd_micros": 0,
        "total_usd_micros": 5,
    }
    before = Line(**fields)
    hashed = json.loads(json.dumps(asdict(before)))
    del hashed["recovery_usd_micros"]
    del hashed["cluster"]  # the default cluster is left out too (attribution.model.statement._hashed)
    for kind in ("idle_cold_usd_micros", "idle_warm_usd_micros", "kv_headroom_usd_micros"):
        del hashed[kind]
    canonical = json.dumps({"period": "2026-11", "lines": [hashed]}, sort_keys=True, separators=(",", ":"))
    assert content_hash("2026-11", [before]) == hashlib.sha256(canonical.encode()).hexdigest()
    with_recovery = replace(before, recovery_usd_micros=5)
    assert content_hash("2026-11", [with_recovery]) != content_hash("2026-11", [before])
