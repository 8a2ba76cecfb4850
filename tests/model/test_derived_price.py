"""GPU-hour prices derived from a purchase (capex, power, colocation): exact to the micro-dollar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution.model.derived_price import (
    DerivedPoint,
    accrued_usd_micros,
    month_of,
    month_parts,
    schedule_span_cost_usd_micros,
)
from attribution.model.gpu_cost import PricePoint, span_cost_usd_micros


def _ts(*ymd: int) -> int:
    return int(datetime(*ymd, tzinfo=UTC).timestamp())


JAN = _ts(2026, 1, 1)
H100 = DerivedPoint(
    effective_from_s=JAN,
    purchase_usd_micros=30_000_000_000,
    gpus_per_purchase=1,
    residual_usd_micros=3_000_000_000,
    depreciation_months=36,
    watts_per_gpu=700,
    pue=Fraction(13, 10),
    usd_micros_per_kwh=120_000,
    colocation_usd_micros_per_month=1_200_000_000,
    gpus_per_colocation=8,
)


def test_hand_worked_h100_month() -> None:
    """An H100 bought at 30,000 USD, straight-line over 36 months to a residual of 3,000 USD, drawing 700 W
    at PUE 1.3 and 0.12 USD/kWh, in a node of 8 GPUs colocated at 1,200 USD per node-month.

    Per GPU: capex (30,000 - 3,000) / 36 = 750 USD a month; colocation 1,200 / 8 = 150 USD a month;
    power 0.7 kW x 1.3 x 0.12 USD/kWh = 0.1092 USD per GPU-hour.
    April 2026 (30 days = 720 h): 750 + 150 + 720 x 0.1092 = 750 + 150 + 78.624 = 978.624 USD per GPU,
    i.e. 978.624 / 720 = 1.3592 USD per GPU-hour; 8 GPUs: 7,828.992 USD.
    January 2026 (31 days = 744 h): 750 + 150 + 81.2448 = 981.2448 USD per GPU; 8 GPUs: 7,849.9584 USD.
    """
    apr, may = _ts(2026, 4, 1), _ts(2026, 5, 1)
    assert schedule_span_cost_usd_micros([H100], 1, apr, may) == 978_624_000
    assert schedule_span_cost_usd_micros([H100], 8, apr, may) == 7_828_992_000
    assert schedule_span_cost_usd_micros([H100], 1, apr, apr + 3600) == 1_359_200  # a 30-day month's hour
    assert schedule_span_cost_usd_micros([H100], 8, JAN, _ts(2026, 2, 1)) == 7_849_958_400
    parts = month_parts(H100, apr)
    assert (parts.capex, parts.colocation, parts.power, parts.hours) == (
        750_000_000,
        150_000_000,
        78_624_000,
        720,
    )


def test_after_depreciation_only_power_and_colocation_remain() -> None:
    """Month 37 (January 2029, 744 h): 150 + 744 x 0.1092 = 231.2448 USD per GPU.

    The residual (3,000 USD) is never billed."""
    jan29, feb29 = _ts(2029, 1, 1), _ts(2029, 2, 1)
    assert schedule_span_cost_usd_micros([H100], 1, jan29, feb29) == 231_244_800
    assert month_parts(H100, jan29).capex == 0
    # the 36 months of depreciation carry exactly the purchase less the residual
    whole = schedule_span_cost_usd_micros([H100], 1, JAN, jan29)
    hours = (jan29 - JAN) // 3600
    assert whole == 27_000_000_000 + 36 * 150_000_000 + hours * 109_200


def test_a_direct_price_takes_over_from_a_derived_one() -> None:
    """From 1 March 2026 a direct 2 USD/GPU-hour: February (672 h) is derived, the first March hour direct."""
    mar = _ts(2026, 3, 1)
    schedule = [H100, PricePoint(mar, 2_000_000)]
    assert schedule_span_cost_usd_micros(schedule, 1, _ts(2026, 2, 1), mar) == 900_000_000 + 672 * 109_200
    assert schedule_span_cost_usd_micros(schedule, 1, mar, mar + 3600) == 2_000_000


def test_direct_only_schedules_are_unchanged() -> None:
    schedule = [PricePoint(JAN, 3_790_000)]
    assert schedule_span_cost_usd_micros(schedule, 8, JAN, JAN + 60) == span_cost_usd_micros(
        schedule, 8, JAN, JAN + 60
    )


def test_a_span_before_the_price_is_refused() -> None:
    with pytest.raises(ValueError, match="no GPU price"):
        schedule_span_cost_usd_micros([H100], 1, JAN - 60, JAN)


points = st.builds(
    DerivedPoint,
    effective_from_s=st.sampled_from([_ts(2025, m, 1) for m in range(1, 13)]),
    purchase_usd_micros=st.integers(10**9, 10**11),
    gpus_per_purchase=st.sampled_from([1, 4, 8]),
    residual_usd_micros=st.integers(0, 10**9),
    depreciation_months=st.integers(1, 60),
    watts_per_gpu=st.integers(0, 1500),
    pue=st.fractions(min_value=1, max_value=3, max_denominator=100),
    usd_micros_per_kwh=st.integers(0, 500_000),
    colocation_usd_micros_per_month=st.integers(0, 10**10),
    gpus_per_colocation=st.sampled_from([1, 8, 32]),
)


def _month_starts(point: DerivedPoint, count: int) -> list[int]:
    index = month_of(point.effective_from_s)[0]
    return [_ts(1970 + (index + k) // 12, (index + k) % 12 + 1, 1) for k in range(count + 1)]


@given(point=points, gpus=st.integers(1, 64), months=st.integers(1, 70))
def test_months_cost_the_sum_of_their_parts(point: DerivedPoint, gpus: int, months: int) -> None:
    """Month by month, the bill is the exact sum of the parts (capex, power, colocation) with the
    fractions of a micro-dollar carried, never dropped: months sum to the floor of the parts' exact total,
    and each month is within one micro-dollar of its own exact parts."""
    starts = _month_starts(point, months)
    costs = [schedule_span_cost_usd_micros([point], gpus, a, b) for a, b in pairwise(starts)]
    exact = [gpus * month_parts(point, a).total for a in starts[:-1]]
    assert sum(costs) == sum(exact, Fraction(0)).__floor__()
    assert all(abs(c - e) < 1 for c, e in zip(costs, exact, strict=True))


@given(
    point=points,
    gpus=st.integers(1, 64),
    month=st.integers(0, 70),
    step=st.sampled_from([60, 300, 3600]),
    whole_usd=st.integers(1, 10**5),
)
def test_whole_parts_give_the_month_to_the_micro_dollar(
    point: DerivedPoint, gpus: int, month: int, step: int, whole_usd: int
) -> None:
    """When every part of a month is whole micro-USD, the month's cost is exactly their sum, and its
    intervals (the first, the last and the rest at once) add up to it."""
    whole = replace(
        point,
        purchase_usd_micros=point.residual_usd_micros
        + whole_usd * point.gpus_per_purchase * point.depreciation_months,
        colocation_usd_micros_per_month=point.gpus_per_colocation * whole_usd * 7,
        pue=Fraction(point.pue.numerator),
        watts_per_gpu=point.watts_per_gpu * 10,
        usd_micros_per_kwh=point.usd_micros_per_kwh // 100 * 100,
    )
    m0, m1 = _month_starts(whole, month + 1)[-2:]
    parts = month_parts(whole, m0)
    cost = schedule_span_cost_usd_micros([whole], gpus, m0, m1)
    assert cost == gpus * (parts.capex + parts.power + parts.colocation)
    cuts = [m0, m0 + step, m1 - step, m1]
    assert sum(schedule_span_cost_usd_micros([whole], gpus, a, b) for a, b in pairwise(cuts)) == cost


@given(
    first=points,
    later=points,
    direct_usd_micros=st.integers(0, 10**7),
    gpus=st.integers(1, 64),
    offsets=st.lists(st.integers(0, 5 * 366 * 86_400), min_size=2, max_size=6),
)
def test_interval_costs_are_floors_of_the_exact_accrual(
    first: DerivedPoint, later: DerivedPoint, direct_usd_micros: int, gpus: int, offsets: list[int]
) -> None:
    """Derived, then direct from mid-month, then another purchase: the cached integer lines give exactly
    ``floor(n A(b)) - floor(n A(a))`` of the exact rational accrual, across segment and month edges."""
    t0 = first.effective_from_s
    direct = PricePoint(t0 + 400 * 86_400 + 12_345, direct_usd_micros)
    second = replace(later, effective_from_s=_month_starts(first, 30)[-1])
    schedule = [first, direct, second]
    cuts = sorted(t0 + o for o in offsets)
    for a, b in pairwise(cuts):
        exact = (gpus * accrued_usd_micros(schedule, b)).__floor__() - (
            gpus * accrued_usd_micros(schedule, a)
        ).__floor__()
        assert schedule_span_cost_usd_micros(schedule, gpus, a, b) == exact
