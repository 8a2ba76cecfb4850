"""OpenCost's ``/allocation`` query parameters, read as OpenCost reads them, into the sets to answer.

OpenCost's window grammar (``core/pkg/opencost/window.go``): ``today``, ``yesterday``, ``week``,
``lastweek``, ``month``, ``lastmonth``; a duration ``<n>m|h|d|w`` (the last n units, the current one
included, so ``24h`` ends at the next whole hour and ``7d`` at the next midnight), optionally ``offset
<n>m|h|d|w``; a pair of RFC 3339 instants or unix seconds, ``start,end``. Ours is UTC, as OpenCost is
without ``UTC_OFFSET``. Windows are then widened outward to whole stored lines, as every window of ours is.

Each set is a window of its own: its lines are rounded to cents over that window alone, so a set's amounts
are the chargeback of its window to the cent (:mod:`attribution.reports.opencost`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from attribution.errors import InvalidWindowError
from attribution.timeutil import align_window, floor_to

#: The most sets one answer may hold (a month in hours is 744).
MAX_SETS = 1000

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,9})([mhdw])")
_DURATION_OFFSET = re.compile(r"(\d{1,9})([mhdw]) offset (\d{1,9})([mhdw])")
_STEP = re.compile(r"(\d{1,9})([smhdw])")
_UNIX_PAIR = re.compile(r"(\d{1,12})[,|-](\d{1,12})")
_RFC3339 = r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ"
_RFC_PAIR = re.compile(f"({_RFC3339}),({_RFC3339})")
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
WINDOW_HELP = (
    "use today, yesterday, week, lastweek, month, lastmonth, a duration like 24h or 7d, "
    "or start,end as RFC3339 (2026-11-01T00:00:00Z,2026-12-01T00:00:00Z) or unix seconds"
)


class OpenCostParameterError(ValueError):
    """A parameter OpenCost would refuse (or that we do not serve): a 400 with OpenCost's error body."""


class Accumulate(StrEnum):
    """``none``: one set per step; ``all``: one set for the window; the others: one set per calendar unit."""

    NONE = "none"
    ALL = "all"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True, slots=True)
class AllocationQuery:
    start: datetime
    end: datetime
    sets: list[tuple[datetime, datetime]]
    """The window of each set, in order, covering ``[start, end)``."""
    aggregate: tuple[str, ...]
    """OpenCost keys of :data:`AGGREGATE_KEYS`, in the order asked; empty: the finest line."""
    include_idle: bool
    share_idle: bool


def parse_query(
    *,
    window: str | None,
    aggregate: str | None,
    accumulate: str | None,
    step: str | None,
    include_idle: str | None,
    share_idle: str | None,
    filter_: str | None = None,
    now: datetime,
    grain_seconds: int,
    max_days: int,
) -> AllocationQuery:
    """Every parameter read and checked; any refusal is an :class:`OpenCostParameterError`. OpenCost's
    ``filter`` is refused rather than ignored: an unfiltered answer would pass for a filtered one."""
    if filter_:
        raise OpenCostParameterError(
            "Invalid 'filter' parameter: filters are not served; use aggregate=namespace and pick the rows"
        )
    start, end = parse_window(window or "", now, grain_seconds, max_days)
    mode = parse_accumulate(accumulate)
    step_seconds = parse_step(step, grain_seconds, end - start)
    return AllocationQuery(
        start=start,
        end=end,
        sets=set_windows(start, end, mode, step_seconds),
        aggregate=parse_aggregate(aggregate or ""),
        include_idle=parse_bool("includeIdle", include_idle),
        share_idle=parse_bool("shareIdle", share_idle),
    )


def parse_window(text: str, now: datetime, grain_seconds: int, max_days: int) -> tuple[datetime, datetime]:
    """OpenCost's window, widened to whole stored lines; refused past ``max_days`` or inverted."""
    try:
        start, end = _window(text.strip(), now.astimezone(UTC))
        return align_window(start, end, grain_seconds, max_days)
    except (ValueError, OverflowError, OSError, InvalidWindowError) as exc:
        raise OpenCostParameterError(f"Invalid 'window' parameter: {_reason(exc)}; {WINDOW_HELP}") from None


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "detail", None) or exc)


def _window(text: str, now: datetime) -> tuple[datetime, datetime]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    sunday = today - day * ((today.weekday() + 1) % 7)
    first = today.replace(day=1)
    named = {
        "today": (today, today + day),
        "yesterday": (today - day, today),
        "week": (sunday, now),
        "lastweek": (sunday - 7 * day, sunday),
        "month": (first, now),
        "lastmonth": ((first - day).replace(day=1), first),
    }
    if text in named:
        return named[text]
    if match := _DURATION.fullmatch(text):
        count, unit = int(match[1]), _UNIT_SECONDS[match[2]]
        if match[2] == "w":  # the week ends tonight
            return now - timedelta(weeks=count) - (now - today) + day, today + day
        end = floor_to(now, unit) + timedelta(seconds=unit)
        return end - timedelta(seconds=count * unit), end
    if match := _DURATION_OFFSET.fullmatch(text):
        end = now - timedelta(seconds=int(match[3]) * _UNIT_SECONDS[match[4]])
        return end - timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]]), end
    if match := _UNIX_PAIR.fullmatch(text):
        return datetime.fromtimestamp(int(match[1]), UTC), datetime.fromtimestamp(int(match[2]), UTC)
    if match := _RFC_PAIR.fullmatch(text):
        return _rfc3339(match[1]), _rfc3339(match[2])
    raise ValueError(f"illegal window: {text[:60]!r}" if text else "missing")


def _rfc3339(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def parse_bool(name: str, text: str | None) -> bool:
    """Go's ``strconv.ParseBool`` values; absent or empty is false (OpenCost's default for both flags)."""
    if text is None or text == "" or text in _FALSE:
        return False
    if text in _TRUE:
        return True
    raise OpenCostParameterError(f"Invalid '{name}' parameter: {text[:40]!r}; use true or false")


def parse_accumulate(text: str | None) -> Accumulate:
    """A bool (true: one set), or all, none, hour, day, week, month, quarter (OpenCost's accumulateBy)."""
    if text is None or text == "":
        return Accumulate.NONE
    if text in _TRUE:
        return Accumulate.ALL
    if text in _FALSE:
        return Accumulate.NONE
    try:
        return Accumulate(text.strip().lower())
    except ValueError:
        raise OpenCostParameterError(
            f"Invalid 'accumulate' parameter: {text[:40]!r}; "
            "use true, false, hour, day, week, month or quarter"
        ) from None


def parse_step(text: str | None, grain_seconds: int, window: timedelta) -> int:
    """Seconds per set: ``<n>s|m|h|d|w``, a whole number of stored lines; absent: the whole window."""
    if text is None or text == "":
        return int(window.total_seconds())
    match = _STEP.fullmatch(text.strip())
    seconds = int(match[1]) * _UNIT_SECONDS[match[2]] if match else 0
    if seconds <= 0 or seconds % grain_seconds:
        raise OpenCostParameterError(
            f"Invalid 'step' parameter: {text[:40]!r}; use a duration like 1h or 1d, "
            f"a positive multiple of {grain_seconds}s (the stored line grain)"
        )
    if window.total_seconds() / seconds > MAX_SETS:
        raise OpenCostParameterError(
            f"Invalid 'step' parameter: {text!r} makes more than {MAX_SETS} sets over this window; "
            "use a longer step or a shorter window"
        )
    return seconds


def set_windows(
    start: datetime, end: datetime, mode: Accumulate, step_seconds: int
) -> list[tuple[datetime, datetime]]:
    """The sets' windows: one (``all``), one per step (``none``) or one per calendar unit, clipped."""
    if mode is Accumulate.ALL:
        return [(start, end)]
    cuts: list[datetime] = []
    at = start if mode is Accumulate.NONE else _unit_start(start, mode)
    while at < end:
        cuts.append(max(at, start))
        at = at + timedelta(seconds=step_seconds) if mode is Accumulate.NONE else _next_unit(at, mode)
    if len(cuts) > MAX_SETS:
        raise OpenCostParameterError(
            f"Invalid 'accumulate' parameter: {mode.value} makes more than {MAX_SETS} sets; use a longer unit"
        )
    return [(s, e) for s, e in zip(cuts, [*cuts[1:], end], strict=True)]


def _unit_start(t: datetime, mode: Accumulate) -> datetime:
    hour = t.replace(minute=0, second=0, microsecond=0)
    if mode is Accumulate.HOUR:
        return hour
    day = hour.replace(hour=0)
    if mode is Accumulate.DAY:
        return day
    if mode is Accumulate.WEEK:  # OpenCost's weeks start on Sunday
        return day - timedelta(days=(day.weekday() + 1) % 7)
    month = day.replace(day=1)
    if mode is Accumulate.MONTH:
        return month
    return month.replace(month=(month.month - 1) // 3 * 3 + 1)


def _next_unit(t: datetime, mode: Accumulate) -> datetime:
    if mode is Accumulate.HOUR:
        return t + timedelta(hours=1)
    if mode is Accumulate.DAY:
        return t + timedelta(days=1)
    if mode is Accumulate.WEEK:
        return t + timedelta(weeks=1)
    months = 1 if mode is Accumulate.MONTH else 3
    index = t.year * 12 + t.month - 1 + months
    return t.replace(year=index // 12, month=index % 12 + 1)


#: OpenCost's aggregation keys we serve, and the dimension of ours each one reads.
AGGREGATE_KEYS = {
    "cluster": "cluster",
    "namespace": "tenant",
    "label:tenant": "tenant",
    "controller": "pool",
    "label:pool": "pool",
    "label:tier": "tier",
}


def parse_aggregate(text: str) -> tuple[str, ...]:
    """Comma-separated OpenCost keys (fixed keys case-insensitive, as OpenCost's ``ParseProperty``), each
    one we serve, duplicates dropped; empty: the finest line (cluster, tenant, pool, tier)."""
    out: list[str] = []
    for raw in text.split(","):
        key = raw.strip()
        if not key:
            continue
        key = key if key.startswith("label:") else key.lower()
        key = "label:" + key[len("label:") :].strip() if key.startswith("label:") else key
        if key not in AGGREGATE_KEYS:
            raise OpenCostParameterError(
                f"Invalid 'aggregate' parameter: {key[:60]!r} is not served; use "
                + ", ".join(AGGREGATE_KEYS)
                + " (comma-separated for several)"
            )
        if key not in out:
            out.append(key)
    return tuple(out)
