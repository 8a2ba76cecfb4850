"""Random attribution windows for Hypothesis: every policy, scope and kind of missing data (tests/model)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from attribution.model.attribute import (
    WHOLE_WINDOW,
    ClusterInterval,
    PeriodScope,
    Policies,
    Reservation,
)
from attribution.model.split import PoolInterval, Usage
from attribution.model.vocabulary import NO_TIER, FixedPolicy, IdleKind, RecoveryPolicy

H = 1_793_577_600  # 2026-11-02T00:00:00Z
HOUR = 3600
TENANTS = ["a", "b", "c", "r"]
TIERS = ["0-4k", "4k-32k", NO_TIER]
Window = tuple[list[PoolInterval], list[ClusterInterval], Policies, PeriodScope]
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
                # one in six inside a recovery incident, with usage or not (the model must not care)
                recovering=draw(st.sampled_from([False] * 5 + [True])),
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
        idle_kinds_by_pool=draw(
            st.dictionaries(
                st.sampled_from(pools),
                st.dictionaries(st.sampled_from([IdleKind.WARM, IdleKind.HEADROOM]), idle),
            )
        ),
        cold_idle=draw(st.none() | st.sampled_from(["share", "separate"])),
        recovery=draw(st.sampled_from(list(RecoveryPolicy))),
    )
    return pis, cluster, policies, draw(scopes(pools))


def small_pool(usage: dict[tuple[str, str], Usage], **changes: Any) -> PoolInterval:
    """One minute of pool ``p`` at ``H``: 1,000 micro-USD, 100 bytes of memory of which 40 are KV cache,
    a quarter of it in use, one byte per token; ``changes`` override any field (hand-worked cases)."""
    fields: dict[str, Any] = {
        "pool": "p",
        "interval_start_s": H,
        "interval_seconds": 60,
        "cost_usd_micros": 1000,
        "memory_bytes": 100,
        "kv_capacity_bytes": 40,
        "kv_usage_ratio": 0.25,
        "kv_bytes_per_token": 1,
        "usage": usage,
    }
    return PoolInterval(**(fields | changes))
