"""The budget arithmetic: projection to month end, thresholds, delivery ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from attribution.model.budget import AlertKind, Crossing, crossings, project_month_end, thresholds_reached

NOVEMBER = 30 * 86400


def test_projection_hand_worked() -> None:
    # $6.00 of usage in 7,140 s of a 2,592,000 s month: 6,000,000 x 2,592,000 / 7,140 = 2,178,151,260.504...
    # rounded down to the micro-dollar; the $0.50 correction is one-off, added as it is
    assert project_month_end(6_000_000, 500_000, 7_140, NOVEMBER) == 2_178_151_260 + 500_000


def test_nothing_projected_before_the_first_attributed_interval() -> None:
    assert project_month_end(0, 500_000, 0, NOVEMBER) is None


def test_a_fully_attributed_month_projects_its_spend() -> None:
    assert project_month_end(123_456_789, 7, NOVEMBER, NOVEMBER) == 123_456_796
    assert project_month_end(123_456_789, 7, NOVEMBER + 60, NOVEMBER) == 123_456_796  # capped


def test_thresholds_are_reached_at_exactly_their_percentage() -> None:
    budget = 10_000_000
    assert thresholds_reached(4_999_999, budget, [50, 80, 100]) == []
    assert thresholds_reached(5_000_000, budget, [50, 80, 100]) == [50]
    assert thresholds_reached(10_000_000, budget, [50, 80, 100]) == [50, 80, 100]


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(1, 10**12), st.lists(st.integers(1, 1000)))
def test_more_spend_never_reaches_fewer_thresholds(a: int, extra: int, budget: int, ts: list[int]) -> None:
    assert set(thresholds_reached(a, budget, ts)) <= set(thresholds_reached(a + extra, budget, ts))


@given(st.integers(0, 10**12), st.integers(1, NOVEMBER), st.integers(0, 10**9))
def test_projection_is_at_least_spend_so_far(usage: int, seconds: int, corrections: int) -> None:
    projected = project_month_end(usage, corrections, seconds, NOVEMBER)
    assert projected is not None and projected >= usage + corrections


def test_a_crossing_has_one_delivery_id() -> None:
    one = Crossing("tenant:acme", "2026-11", 80, AlertKind.PROJECTED)
    assert one.delivery_id == Crossing("tenant:acme", "2026-11", 80, AlertKind.PROJECTED).delivery_id
    others = {
        Crossing("tenant:acme", "2026-11", 80, AlertKind.ACTUAL).delivery_id,
        Crossing("tenant:acme", "2026-12", 80, AlertKind.PROJECTED).delivery_id,
        Crossing("tenant:acme", "2026-11", 100, AlertKind.PROJECTED).delivery_id,
        Crossing("cluster", "2026-11", 80, AlertKind.PROJECTED).delivery_id,
    }
    assert one.delivery_id not in others and len(others) == 4


def test_crossings_of_actual_and_projected() -> None:
    found = crossings("cluster", "2026-11", 100, [50, 100], 60, 120)
    assert [(c.kind, c.threshold_percent) for c in found] == [
        (AlertKind.ACTUAL, 50),
        (AlertKind.PROJECTED, 50),
        (AlertKind.PROJECTED, 100),
    ]
    assert [c.kind for c in crossings("cluster", "2026-11", 100, [50], 60, None)] == [AlertKind.ACTUAL]
