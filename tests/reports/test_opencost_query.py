"""OpenCost's window grammar and set windows, at a fixed "now", against OpenCost's ``window.go`` rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from attribution.reports.opencost_query import (
    Accumulate,
    OpenCostParameterError,
    parse_aggregate,
    parse_window,
    set_windows,
)

#: a Thursday, mid-hour
NOW = datetime(2026, 12, 3, 18, 47, 12, 345_000, tzinfo=UTC)
HOUR = 3600


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "start", "end"),
    [
        ("today", "2026-12-03", "2026-12-04"),
        ("yesterday", "2026-12-02", "2026-12-03"),
        ("week", "2026-11-29", "2026-12-03T19:00"),  # Sunday to now, widened to the hour
        ("lastweek", "2026-11-22", "2026-11-29"),
        ("month", "2026-12-01", "2026-12-03T19:00"),
        ("lastmonth", "2026-11-01", "2026-12-01"),
        ("24h", "2026-12-02T19:00", "2026-12-03T19:00"),  # the last 24 hours, this one included
        ("7d", "2026-11-27", "2026-12-04"),  # today and the 6 days before
        ("1w", "2026-11-27", "2026-12-04"),  # a week ends tonight
        ("90m", "2026-12-03T17:00", "2026-12-03T19:00"),  # 17:18-18:48, widened to whole lines
        ("2h offset 1h", "2026-12-03T15:00", "2026-12-03T18:00"),
        ("1793577600,1793664000", "2026-11-02", "2026-11-03"),
        ("2026-11-02T00:00:00Z,2026-11-03T00:00:00Z", "2026-11-02", "2026-11-03"),
    ],
)
def test_window_grammar(window: str, start: str, end: str) -> None:
    assert parse_window(window, NOW, HOUR, 400) == (_t(start), _t(end))


@pytest.mark.parametrize(
    "window", ["", "now", "2026-11-02,2026-11-03", "5y", "3,1", "1d,2d", "99999999999,1", "400000d"]
)
def test_bad_windows_name_the_fix(window: str) -> None:
    with pytest.raises(OpenCostParameterError, match=r"^Invalid 'window' parameter: .*; use today"):
        parse_window(window, NOW, HOUR, 400)


def test_set_windows_by_step_and_calendar_unit() -> None:
    start, end = _t("2026-11-30T22:00"), _t("2026-12-01T02:00")
    assert set_windows(start, end, Accumulate.ALL, HOUR) == [(start, end)]
    assert [s.hour for s, _ in set_windows(start, end, Accumulate.NONE, HOUR)] == [22, 23, 0, 1]
    assert set_windows(start, end, Accumulate.NONE, 3 * HOUR) == [
        (start, _t("2026-12-01T01:00")),
        (_t("2026-12-01T01:00"), end),
    ]
    split = _t("2026-12-01")
    assert set_windows(start, end, Accumulate.DAY, HOUR) == [(start, split), (split, end)]
    assert set_windows(start, end, Accumulate.MONTH, HOUR) == [(start, split), (split, end)]
    assert set_windows(start, end, Accumulate.QUARTER, HOUR) == [(start, end)]  # Q4 began 10-01
    assert set_windows(start, end, Accumulate.WEEK, HOUR) == [(start, end)]  # weeks start on Sunday 11-29


def test_aggregate_keys() -> None:
    assert parse_aggregate("Namespace, label:tier,namespace") == ("namespace", "label:tier")
    assert parse_aggregate("") == ()
    with pytest.raises(OpenCostParameterError, match="'pod' is not served; use cluster, namespace"):
        parse_aggregate("pod")
    with pytest.raises(OpenCostParameterError, match="label:app"):
        parse_aggregate("label:app")
