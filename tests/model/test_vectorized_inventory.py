"""Direct prices over a window's intervals in one pass equal ``span_cost_usd_micros`` per interval.

The inventory split itself is checked against the per-interval reference in
tests/ledger/test_inventory_columns.py (with these prices, a derived one and overheads).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.gpu_cost import PricePoint, monthly_share_usd_micros, span_cost_usd_micros
from attribution.model.vectorized_inventory import direct_span_costs_usd_micros, monthly_shares_usd_micros

T0 = 1_793_491_200  # 2026-11-01T00:00:00Z

schedules = st.lists(
    st.builds(PricePoint, st.integers(T0 - 10 * 86_400, T0 + 3_000), st.integers(0, 50_000_000)),
    min_size=1,
    max_size=4,
).map(lambda points: sorted(points, key=lambda p: p.effective_from_s))


@settings(max_examples=300, deadline=None)
@given(
    schedule=schedules,
    gpu_count=st.integers(0, 5_000),
    first=st.integers(T0 - 86_400, T0 + 3_000),
    step=st.sampled_from((1, 7, 60, 300, 3_600)),
    n=st.integers(0, 60),
)
def test_one_pass_equals_each_interval(
    schedule: list[PricePoint], gpu_count: int, first: int, step: int, n: int
) -> None:
    starts = np.arange(first, first + n * step, step, dtype=np.int64)
    found = direct_span_costs_usd_micros(schedule, gpu_count, starts, step)
    if n == 0 or first < schedule[0].effective_from_s:
        assert found is None  # no span, or the reference refuses it: the caller goes per interval
        return
    assert found is not None
    assert found.tolist() == [span_cost_usd_micros(schedule, gpu_count, t, t + step) for t in starts.tolist()]


def test_a_window_whose_accrual_could_overflow_int64_goes_per_interval() -> None:
    schedule = [PricePoint(T0, 2**40)]
    starts = np.arange(T0, T0 + 10 * 3_600, 3_600, dtype=np.int64)
    assert direct_span_costs_usd_micros(schedule, 10_000, starts, 3_600) is None
    assert direct_span_costs_usd_micros(schedule, 1, starts, 3_600) is not None


@settings(max_examples=200, deadline=None)
@given(
    monthly=st.integers(0, 10**13),
    days=st.sampled_from((28, 29, 30, 31)),
    first_minute=st.integers(0, 28 * 1440 - 1),
    n=st.integers(1, 90),
    step=st.sampled_from((60, 300, 3_600)),
)
def test_monthly_shares_equal_each_interval(
    monthly: int, days: int, first_minute: int, n: int, step: int
) -> None:
    m0, m1 = T0, T0 + days * 86_400
    starts = np.arange(n, dtype=np.int64) * step + m0 + first_minute * 60
    found = monthly_shares_usd_micros(monthly, m0, m1, starts, step)
    if int(starts[-1]) + step > m1 or monthly * (m1 - m0) >= 2**62:
        assert found is None  # the reference raises (outside the month) or needs Python integers
        return
    assert found is not None
    assert found.tolist() == [monthly_share_usd_micros(monthly, m0, m1, t, t + step) for t in starts.tolist()]
