"""GPU cost per interval with effective-dated prices: integer micro-USD that telescope exactly."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution.model.gpu_cost import PricePoint, span_cost_usd_micros

T0 = 1_793_577_600  # 2026-11-02T00:00:00Z
H100_RATE = [PricePoint(T0, 3_790_000)]  # $3.79 per GPU-hour


def test_eight_gpus_for_a_minute() -> None:
    # 8 x 3,790,000 x 60 / 3600 = 505,333.33...: floored
    assert span_cost_usd_micros(H100_RATE, 8, T0, T0 + 60) == 505_333


def test_sixty_minutes_add_up_to_the_hour_to_the_micro_dollar() -> None:
    starts = [T0 + 60 * m for m in range(60)]
    minutes = [span_cost_usd_micros(H100_RATE, 8, start, start + 60) for start in starts]
    assert sum(minutes) == 30_320_000  # 8 x $3.79
    assert set(minutes) == {505_333, 505_334}
    # the carried thirds come due every third minute
    assert minutes[:3] == [505_333, 505_333, 505_334]
    assert span_cost_usd_micros(H100_RATE, 8, T0, T0 + 3600) == 30_320_000


def test_a_later_span_at_the_same_price() -> None:
    # a day later, one GPU for 90 s: 3,790,000 x 90 / 3600 = 94,750 exactly
    assert span_cost_usd_micros(H100_RATE, 1, T0 + 86_400, T0 + 86_490) == 94_750


def test_price_change_in_the_middle_of_a_span() -> None:
    # $3.60/h = 1,000 micro-USD per second; $7.20/h = 2,000 per second from T0 + 30
    schedule = [PricePoint(T0, 3_600_000), PricePoint(T0 + 30, 7_200_000)]
    assert span_cost_usd_micros(schedule, 1, T0, T0 + 60) == 30 * 1_000 + 30 * 2_000
    assert span_cost_usd_micros(schedule, 2, T0, T0 + 60) == 2 * 90_000
    assert span_cost_usd_micros(schedule, 1, T0, T0 + 30) == 30_000
    assert span_cost_usd_micros(schedule, 1, T0 + 30, T0 + 60) == 60_000
    assert span_cost_usd_micros(schedule, 1, T0 + 60, T0 + 120) == 120_000


def test_span_across_three_prices() -> None:
    schedule = [
        PricePoint(T0, 3_600_000),  # 1,000 per second
        PricePoint(T0 + 10, 0),  # a free promotion for 10 s
        PricePoint(T0 + 20, 1_800_000),  # 500 per second
    ]
    assert span_cost_usd_micros(schedule, 3, T0 + 5, T0 + 25) == 3 * (5 * 1_000 + 0 + 5 * 500)


def test_a_price_that_is_not_yet_effective_changes_nothing_before_its_date() -> None:
    later = [*H100_RATE, PricePoint(T0 + 7200, 9_990_000)]
    for start in range(T0, T0 + 7200, 600):
        assert span_cost_usd_micros(later, 8, start, start + 600) == span_cost_usd_micros(
            H100_RATE, 8, start, start + 600
        )
    assert span_cost_usd_micros(later, 1, T0 + 7200, T0 + 10_800) == 9_990_000


def test_empty_span_and_no_gpus_cost_nothing() -> None:
    assert span_cost_usd_micros(H100_RATE, 8, T0 + 60, T0 + 60) == 0
    assert span_cost_usd_micros(H100_RATE, 0, T0, T0 + 3600) == 0


def test_span_before_the_first_price_raises() -> None:
    with pytest.raises(ValueError, match="no GPU price"):
        span_cost_usd_micros(H100_RATE, 8, T0 - 60, T0)
    with pytest.raises(ValueError, match="no GPU price"):
        span_cost_usd_micros(H100_RATE, 8, T0 - 1, T0 + 60)
    with pytest.raises(ValueError, match="no GPU price"):
        span_cost_usd_micros([], 8, T0, T0 + 60)


def test_end_before_start_raises() -> None:
    with pytest.raises(ValueError, match="end before start"):
        span_cost_usd_micros(H100_RATE, 8, T0 + 60, T0)


# --- properties ---------------------------------------------------------------------------------

prices = st.integers(min_value=0, max_value=50_000_000)


@st.composite
def schedules(draw: st.DrawFn) -> list[PricePoint]:
    offsets = draw(st.lists(st.integers(min_value=1, max_value=200_000), max_size=4, unique=True))
    points = [PricePoint(T0, draw(prices))]
    points += [PricePoint(T0 + off, draw(prices)) for off in sorted(offsets)]
    return points


@given(
    schedules(),
    st.integers(min_value=0, max_value=4096),
    st.integers(min_value=0, max_value=300_000),
    st.lists(st.integers(min_value=0, max_value=300_000), max_size=30),
)
def test_costs_of_consecutive_sub_spans_sum_to_the_whole_span(
    schedule: list[PricePoint], gpus: int, start_offset: int, cut_offsets: list[int]
) -> None:
    start = T0 + start_offset
    cuts = sorted(start + c for c in cut_offsets)
    end = cuts[-1] if cuts else start + 60
    bounds = [start, *cuts[:-1], end] if cuts else [start, end]
    parts = [span_cost_usd_micros(schedule, gpus, a, b) for a, b in pairwise(bounds)]
    assert all(p >= 0 for p in parts)
    assert sum(parts) == span_cost_usd_micros(schedule, gpus, start, end)


@given(
    prices,
    st.integers(min_value=0, max_value=4096),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**6),
)
def test_any_span_at_one_price_is_within_a_micro_dollar_of_exact(
    price: int, gpus: int, start_offset: int, seconds: int
) -> None:
    start = T0 + start_offset
    cost = span_cost_usd_micros([PricePoint(T0, price)], gpus, start, start + seconds)
    # |cost - price x gpus x seconds / 3600| < 1
    assert abs(cost * 3600 - price * gpus * seconds) < 3600
