"""Conversion to a billing currency: the converted lines sum exactly to the converted total."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attribution.model.currency import (
    Rate,
    convert_lines,
    convert_total,
    format_minor,
    minor_exponent,
    rate_at,
)

# $1000, $250 and $125 in micro-USD: the hand-worked example of docs/currencies.md
HAND = [1_000_000_000, 250_000_000, 125_000_000]

amounts = st.lists(st.integers(min_value=-(10**12), max_value=10**13), min_size=1, max_size=20)
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("20000"), places=6)
exponents = st.sampled_from([0, 2, 3])


def test_eur_hand_example_to_the_cent() -> None:
    # exact cents 92150, 23037.5, 11518.75; total 126706.25 -> 126706 (half-even);
    # floors 92150 + 23037 + 11518 = 126705, the one cent left goes to the largest remainder (.75)
    assert convert_total(sum(HAND), Decimal("0.9215"), 2) == 126_706
    assert convert_lines(HAND, Decimal("0.9215"), 2) == [92_150, 23_037, 11_519]


def test_rounding_each_line_alone_would_miss_the_total() -> None:
    """Why the rule exists: half-even per line gives 92150 + 23038 + 11519 = 126707, a cent too many."""
    alone = [round(Fraction(a) * Fraction(Decimal("0.9215")) / 10_000) for a in HAND]
    assert sum(alone) == 126_707 != convert_total(sum(HAND), Decimal("0.9215"), 2)


def test_jpy_has_no_minor_unit() -> None:
    # exact yen 143270, 35817.5, 17908.75; total 196996.25 -> 196996; the yen left goes to the .75
    assert minor_exponent("JPY") == 0
    assert convert_lines(HAND, Decimal("143.27"), 0) == [143_270, 35_817, 17_909]
    assert format_minor(196_996, 0) == "196996"


def test_half_even_total_at_three_decimals() -> None:
    # 0.0025 USD at rate 1 is 2.5 fils of BHD: half-even keeps 2; 0.0035 gives 4
    assert convert_total(2_500, Decimal(1), 3) == 2
    assert convert_total(3_500, Decimal(1), 3) == 4
    assert format_minor(1_234_567, 3) == "1234.567"


@given(amounts, rates, exponents)
def test_converted_lines_sum_exactly_to_the_converted_total(
    values: list[int], rate: Decimal, exponent: int
) -> None:
    parts = convert_lines(values, rate, exponent)
    assert sum(parts) == convert_total(sum(values), rate, exponent)
    for value, part in zip(values, parts, strict=True):  # each within one minor unit of its exact amount
        exact = Fraction(value * 10**exponent, 1_000_000) * Fraction(rate)
        assert abs(part - exact) < 1


def test_unknown_code_and_bad_rate_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown currency code 'EURO'"):
        minor_exponent("EURO")
    with pytest.raises(ValueError, match="positive"):
        convert_total(1, Decimal(0), 2)


def test_the_rate_in_effect_is_the_latest_at_or_before_the_instant() -> None:
    oct_, nov = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    configured = [
        Rate("USD", "EUR", Decimal("0.93"), oct_),
        Rate("USD", "EUR", Decimal("0.9215"), nov),
        Rate("USD", "JPY", Decimal("150"), oct_),
    ]
    assert rate_at(configured, "USD", "EUR", nov) == configured[1]
    assert rate_at(configured, "USD", "EUR", datetime(2026, 10, 31, 23, tzinfo=UTC)) == configured[0]
    assert rate_at(configured, "USD", "EUR", datetime(2026, 9, 30, tzinfo=UTC)) is None
