"""UTC parsing, alignment to the interval grid, periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from attribution.errors import InvalidWindowError
from attribution.timeutil import align_window, parse_instant, period_window


def test_parse_instant_requires_an_offset_except_for_bare_dates() -> None:
    assert parse_instant("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_instant("2026-11-01T12:00:00+02:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_instant("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(InvalidWindowError, match="no UTC offset"):
        parse_instant("2026-11-01T10:00:00")
    with pytest.raises(InvalidWindowError, match="not an ISO 8601"):
        parse_instant("yesterday")


def test_align_window_widens_to_whole_intervals_and_refuses_bad_windows() -> None:
    start, end = datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC), datetime(2026, 11, 1, 0, 5, 1, tzinfo=UTC)
    assert align_window(start, end, 60, 10) == (
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 0, 6, tzinfo=UTC),
    )
    with pytest.raises(InvalidWindowError, match="not after start"):
        align_window(end, start, 60, 10)
    with pytest.raises(InvalidWindowError, match="exceeds the maximum of 10"):
        align_window(start, datetime(2026, 12, 1, tzinfo=UTC), 60, 10)


def test_period_window_is_the_half_open_month() -> None:
    assert period_window("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    for bad in ("2026-13", "26-01", "2026/01"):
        with pytest.raises(InvalidWindowError):
            period_window(bad)
