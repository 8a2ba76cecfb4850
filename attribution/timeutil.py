"""UTC instants, half-open windows aligned to the interval grid, and periods (calendar months)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from attribution.errors import InvalidWindowError

#: ASCII digits only: ``\d`` also matches Arabic-Indic or fullwidth digits, which ``int()`` reads as the
#: same month, so ``2026-11`` in those digits would be more names of November (closed twice, billed twice).
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])", re.ASCII)


def parse_instant(text: str) -> datetime:
    """ISO 8601 with an offset or ``Z``, or a bare date (midnight UTC). Naive times are refused."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidWindowError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        if len(text.strip()) == 10:
            return value.replace(tzinfo=UTC)
        raise InvalidWindowError(f"{text!r} has no UTC offset; add Z or +00:00")
    return value.astimezone(UTC)


def floor_to(t: datetime, step_seconds: int) -> datetime:
    ts = int(t.timestamp())
    return datetime.fromtimestamp(ts - ts % step_seconds, tz=UTC)


def ceil_to(t: datetime, step_seconds: int) -> datetime:
    floor = floor_to(t, step_seconds)
    return floor if floor == t else floor + timedelta(seconds=step_seconds)


def windows_of(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive windows of ``step`` (the last one shorter if need be): a span
    attributed window by window, a read slice by slice."""
    if step <= timedelta(0):
        raise ValueError(f"a span's windows must be longer than 0 s, not {step}")
    out, at = [], start
    while at < end:
        out.append((at, min(at + step, end)))
        at += step
    return out


def align_window(
    start: datetime, end: datetime, step_seconds: int, max_days: int
) -> tuple[datetime, datetime]:
    """``[start, end)`` widened outward to whole intervals; refuses inverted or oversized windows."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidWindowError("window bounds must be timezone-aware UTC")
    if end <= start:
        raise InvalidWindowError(f"window end {end.isoformat()} is not after start {start.isoformat()}")
    if end - start > timedelta(days=max_days):
        raise InvalidWindowError(f"window of {(end - start).days} days exceeds the maximum of {max_days}")
    aligned_start = floor_to(start, step_seconds)
    aligned_end = floor_to(end, step_seconds)
    if aligned_end < end:
        aligned_end += timedelta(seconds=step_seconds)
    return aligned_start, aligned_end


def parse_period(period: str) -> str:
    """The one canonical name of a billing period: exactly ``YYYY-MM`` in ASCII digits, month 01-12 (year
    0000, which the calendar cannot hold, fails in :func:`period_window`). Every edge (CLI, API, config,
    jobs) parses through here and stores what it returns, so a month has one name; anything else (other
    digits, blanks, ``2026-1``) is refused, not normalised: a name accepted once must not later be
    accepted as a different one."""
    match = _PERIOD.fullmatch(period)
    if match is None:
        raise InvalidWindowError(f"period must look like YYYY-MM (ASCII digits, month 01-12), got {period!r}")
    return period


def period_window(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as the half-open month ``[first day, first day of next month)`` in UTC."""
    match = _PERIOD.fullmatch(parse_period(period))
    assert match is not None
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
