"""The rounding behind every statement view: parts sum to their parent to the cent, rows and columns."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.model.money import MICROS_PER_CENT
from attribution.model.statement import COMPONENTS
from attribution.reports.statement_views import (
    RESTATED,
    DayAmounts,
    Row,
    apportion_cents,
    cents_half_even,
    daily_rows,
)

amounts = st.lists(st.integers(min_value=-(10**10), max_value=10**12), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(amounts, st.integers(min_value=-50, max_value=50))
def test_apportioned_cents_always_sum_to_the_parent(parts: list[int], offset: int) -> None:
    """Whatever parent figure is given (rounded elsewhere, or off by a few cents), the parts reach it."""
    target = cents_half_even(sum(parts)) + offset
    assert sum(apportion_cents(parts, target)) == target


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30))
def test_apportioned_cents_stay_within_a_cent_of_each_exact_share(parts: list[int]) -> None:
    cents = apportion_cents(parts, cents_half_even(sum(parts)))
    for part, c in zip(parts, cents, strict=True):
        assert abs(Decimal(part) / MICROS_PER_CENT - c) < 1


day_amounts = st.lists(
    st.tuples(*(st.integers(min_value=0, max_value=10**10) for _ in range(len(COMPONENTS)))),
    min_size=1,
    max_size=31,
)


def usage_row(components: list[int]) -> Row:
    """The statement's usage: component micros and cents as the statement lines gave them."""
    row = Row(("usage",))
    total = cents_half_even(sum(components))
    row.add_cents(apportion_cents(components, total), total)
    row.total_usd_micros = sum(components)
    row.component_usd_micros = list(components)
    return row


def days_of(raw: list[tuple[int, ...]]) -> list[DayAmounts]:
    return [DayAmounts(f"2026-11-{i + 1:02d}", c, 0, 0, 0, 0.0) for i, c in enumerate(raw)]


@settings(max_examples=200, deadline=None)
@given(day_amounts)
def test_days_sum_to_the_statement_by_row_and_by_column(raw: list[tuple[int, ...]]) -> None:
    usage = usage_row([sum(d[i] for d in raw) for i in range(len(COMPONENTS))])
    rows = daily_rows(days_of(raw), usage)
    assert RESTATED not in {r.key[0] for r in rows}  # the lines still sum to the statement
    assert sum(r.total_cents for r in rows) == usage.total_cents
    for i in range(len(COMPONENTS)):
        assert sum(r.component_cents[i] for r in rows) == usage.component_cents[i]
    assert all(sum(r.component_cents) == r.total_cents for r in rows)


@settings(max_examples=200, deadline=None)
@given(
    day_amounts,
    st.tuples(*(st.integers(min_value=-(10**9), max_value=10**9) for _ in range(len(COMPONENTS)))),
)
def test_a_restatement_after_close_is_an_explicit_row(
    raw: list[tuple[int, ...]], change: tuple[int, ...]
) -> None:
    """The statement froze other amounts than the interval lines hold now: the days show what the lines
    say, one more row the difference, and the whole still sums to the issued statement."""
    frozen = [sum(d[i] for d in raw) + change[i] for i in range(len(COMPONENTS))]
    usage = usage_row(frozen)
    rows = daily_rows(days_of(raw), usage)
    assert sum(r.total_cents for r in rows) == usage.total_cents
    for i in range(len(COMPONENTS)):
        assert sum(r.component_cents[i] for r in rows) == usage.component_cents[i]
    restated = [r for r in rows if r.key == (RESTATED,)]
    assert len(restated) == (1 if any(change) else 0)
    if restated:
        assert restated[0].total_usd_micros == sum(change)
