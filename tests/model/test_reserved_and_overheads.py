"""The reserved idle policy and monthly overheads: exact, conserved, by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from attribution.model.attribute import (
    ClusterInterval,
    Policies,
    Reservation,
)
from attribution.model.gpu_cost import monthly_share_usd_micros
from attribution.model.split import PoolInterval, Usage
from attribution.model.vocabulary import NO_TIER, OVERHEAD_POOL
from tests.support.engines import WindowEngine

H = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())


def idle_pool(start: int, tenants: dict[str, float]) -> PoolInterval:
    """C = 1,000,000 with M = K and nothing in use: all of it is idle (KV free)."""
    usage = {(t, "0-4k"): Usage(w) for t, w in tenants.items()}
    return PoolInterval("p", start, 60, 1_000_000, 100, 100, 0.0, 1, usage)


def with_some_use(start: int) -> PoolInterval:
    """C = 1,000,000: 100,000 KV in use (a 1 : b 3), 900,000 idle."""
    usage = {("a", "0-4k"): Usage(10.0), ("b", "0-4k"): Usage(30.0)}
    return PoolInterval("p", start, 60, 1_000_000, 100, 100, 0.1, 1, usage)


def idle_of(lines: dict, tenant: str, tier: str = "0-4k") -> int:
    return sum(c.idle for (_, pool, t, tr), c in lines.items() if pool == "p" and t == tenant and tr == tier)


def test_a_reservation_pays_its_fraction_of_idle_and_the_rest_is_shared(engine_impl: WindowEngine) -> None:
    reserved = Policies({"p": "reserved"}, reservations_by_pool={"p": [Reservation("r", 250_000, H)]})
    result = engine_impl([with_some_use(H)], [], reserved)
    assert idle_of(result.lines, "r", NO_TIER) == 225_000  # a quarter of 900,000, with no usage at all
    assert idle_of(result.lines, "a") == 168_750  # the other 675,000 by non-idle cost, 1 : 3
    assert idle_of(result.lines, "b") == 506_250
    assert result.total_usd_micros == 1_000_000


def test_an_expired_reservation_pays_nothing(engine_impl: WindowEngine) -> None:
    expired = Policies({"p": "reserved"}, reservations_by_pool={"p": [Reservation("r", 250_000, 0, H)]})
    result = engine_impl([with_some_use(H)], [], expired)
    assert idle_of(result.lines, "r", NO_TIER) == 0
    assert idle_of(result.lines, "a") + idle_of(result.lines, "b") == 900_000


@given(
    st.lists(st.integers(1, 400_000), min_size=1, max_size=2),
    st.integers(0, 10_000_000),
    st.booleans(),
)
def test_reserved_idle_conserves_the_pool_cost(
    engine_impl: WindowEngine, fractions: list[int], cost: int, anyone: bool
) -> None:
    pi = PoolInterval("p", H, 60, cost, 100, 80, 0.25, 1, {("a", "0-4k"): Usage(5.0)} if anyone else {})
    reservations = [Reservation(f"r{i}", f, H) for i, f in enumerate(fractions)]
    result = engine_impl([pi], [], Policies({"p": "reserved"}, reservations_by_pool={"p": reservations}))
    assert result.total_usd_micros == cost


def test_overheads_are_cluster_idle_shared_by_cost(engine_impl: WindowEngine) -> None:
    cluster = [ClusterInterval(H, 0, 0, overhead_usd_micros=40_000)]
    result = engine_impl([with_some_use(H)], cluster, Policies({"p": "share"}))
    overhead = {t: c.idle for (_, pool, t, _), c in result.lines.items() if pool == OVERHEAD_POOL}
    assert overhead == {"a": 10_000, "b": 30_000}
    assert result.total_usd_micros == 1_040_000


@given(st.integers(0, 10**12), st.sampled_from([28, 29, 30, 31]), st.sampled_from([60, 300, 3600]))
def test_a_month_of_intervals_sums_exactly_to_the_monthly_overhead(amount: int, days: int, step: int) -> None:
    m0 = H - H % 86_400
    m1 = m0 + days * 86_400
    parts = [monthly_share_usd_micros(amount, m0, m1, t, t + step) for t in range(m0, m1, step)]
    assert sum(parts) == amount
    assert max(parts) - min(parts) <= 1  # spread evenly over time, to the micro-dollar
