"""A commitment amortised over whole UTC months: telescoping floors, hand-worked to the micro-dollar."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from attribution.model.commitment import CommitmentMonth, amortised_usd_micros


def test_three_months_of_ten_thousand_dollars_hand_worked() -> None:
    # 10,000.000000 USD over 3 months: floor(1e10 x k / 3) recognised after k months
    # = 3,333,333,333 / 6,666,666,666 / 10,000,000,000,
    # so the months are 3,333.333333, 3,333.333333 and 3,333.333334
    months = [amortised_usd_micros(10_000_000_000, 3, k) for k in range(3)]
    assert months == [3_333_333_333, 3_333_333_333, 3_333_333_334]
    assert sum(months) == 10_000_000_000


def test_used_is_capped_at_the_amortised_amount_and_unused_is_the_rest() -> None:
    # 27,000.01 USD over 3 months: month 1 is floor(27,000,010,000 / 3) = 9,000,003,333 micro-USD
    amortised = amortised_usd_micros(27_000_010_000, 3, 0)
    assert amortised == 9_000_003_333
    # 4 GPUs x 2.99 USD x 720 h (April) = 8,611.200000 USD covered
    april = CommitmentMonth("h100-1y", "GPU type H100-SXM", 0, 3, amortised, 8_611_200_000)
    assert (april.used_usd_micros, april.unused_usd_micros) == (8_611_200_000, 388_803_333)
    busy = CommitmentMonth("h100-1y", "GPU type H100-SXM", 0, 3, amortised, 12_000_000_000)
    assert (busy.used_usd_micros, busy.unused_usd_micros) == (amortised, 0)


@given(st.integers(0, 10**15), st.integers(1, 120))
def test_months_sum_exactly_to_the_amount_each_within_a_micro_dollar(total: int, months: int) -> None:
    parts = [amortised_usd_micros(total, months, k) for k in range(months)]
    assert sum(parts) == total
    assert all(total // months <= p <= total // months + 1 for p in parts)
