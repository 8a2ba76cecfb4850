"""Reset-aware differencing of raw counter values at interval boundaries."""

from __future__ import annotations

from attribution.collectors.counters import increases
from attribution.collectors.prom import Series


def series(points: list[tuple[int, float]]) -> Series:
    return Series(labels={}, points=points)


def test_first_point_at_window_start_is_a_baseline() -> None:
    got = increases(series([(0, 100.0), (60, 130.0), (120, 190.0)]), first_ts=0, step=60)
    assert got == {0: 30.0, 60: 60.0}


def test_a_reset_counts_the_new_value_from_zero_never_negative() -> None:
    got = increases(series([(0, 500.0), (60, 520.0), (120, 7.0), (180, 9.0)]), first_ts=0, step=60)
    assert got == {0: 20.0, 60: 7.0, 120: 2.0}
    assert all(v >= 0 for v in got.values())


def test_a_series_born_inside_the_window_counts_from_zero() -> None:
    got = increases(series([(120, 5.0), (180, 8.0)]), first_ts=0, step=60)
    assert got == {60: 5.0, 120: 3.0}


def test_a_gap_lands_in_the_interval_after_it_and_nothing_is_lost() -> None:
    got = increases(series([(0, 10.0), (60, 12.0), (240, 40.0)]), first_ts=0, step=60)
    assert sum(got.values()) == 30.0
    assert got[180] == 28.0
