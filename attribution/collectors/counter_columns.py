"""Counter increases as columns: :func:`~attribution.collectors.counters.counter_increases` for every
series of an answer at once, with the same queries and the same increases, bit for bit.

At 1,000 tenants a gateway's counter answers ~3,000 series of 60 boundaries each; the per-series
increases (a dict per series, a Python step per sample) and the gateway's sums over them were the
largest share of a collection's Python (docs/performance.md, "Collection at fleet size"). Here the
boundary values stay in the answer's columns (:class:`~attribution.collectors.answers.SeriesColumns`)
and each increase is one array operation: ``value - previous`` where the counter did not decrease, else
``value`` (a reset). Only the rare series that need more are taken one by one, by the very code of
:mod:`~attribution.collectors.counters`: a reset inside an interval (its raw samples are differenced)
and a series silent in some interval (its gap's increase is spread, :func:`spread_gaps`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.answers import SeriesColumns
from attribution.collectors.counters import (
    Identity,
    identity,
    increases,
    raw_samples_at,
    reset_boundaries,
    spread_gaps,
)
from attribution.collectors.prom import PromClient


@dataclass(frozen=True, slots=True)
class CounterColumns:
    """Every series' increases in one set of columns: increase ``j`` is ``increases[j]`` of series
    ``series[j]`` (whose labels are ``labels[series[j]]``) in the interval starting ``starts[j]`` (unix
    s). Series appear in answer order, each at most once per interval."""

    labels: list[dict[str, str]]
    series: NDArray[np.int64]
    starts: NDArray[np.int64]
    increases: NDArray[np.float64]
    sampled: frozenset[int]
    """Interval starts in which any series had a raw sample."""
    silent: frozenset[int]
    """Interval starts in which some series was silent between two samples (its increase spread)."""


def counter_columns(
    client: PromClient,
    selector: str,
    start: datetime,
    end: datetime,
    step: int,
    baseline_lookback_seconds: int,
) -> CounterColumns:
    """Per series, the increase of counter ``selector`` in each interval of ``[start, end)``: what
    :func:`~attribution.collectors.counters.counter_increases` returns, as columns (queries in turn)."""
    return _counters(client, [selector], (start, end), step, baseline_lookback_seconds, _in_turn)[0]


def counters_side_by_side(
    client: PromClient,
    selectors: Sequence[str],
    start: datetime,
    end: datetime,
    step: int,
    baseline_lookback_seconds: int,
) -> list[CounterColumns]:
    """:func:`counter_columns` of each selector, their queries side by side (``client.map``: at most the
    source's ``max_concurrent_queries`` at once): every counter's boundaries, resets and samples per
    interval, each followed by what it decides (baselines, raw samples at resets), and each counter's
    increases as soon as its three answers are in (:func:`_counters`). Per counter these were four
    queries in turn, each waiting for the one before (a third of a full-fleet gateway read's wall time);
    the resets and samples are now asked even of a counter with no series, which needs neither."""
    return _counters(client, selectors, (start, end), step, baseline_lookback_seconds, client.map)


def _in_turn(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    return [fn(item) for item in items]


@dataclass(frozen=True, slots=True)
class _Boundaries:
    """A counter's boundary values, which series have one at the window's first boundary, and the
    baselines of those that do not (their last value within the lookback before the window)."""

    answer: SeriesColumns
    has_first: NDArray[np.bool_]
    baselines: dict[Identity, float]


def _counters(
    client: PromClient,
    selectors: Sequence[str],
    window: tuple[datetime, datetime],
    step: int,
    lookback: int,
    run: Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]],
) -> list[CounterColumns]:
    """Each counter's three reads (its boundaries, the largest answers, first of all, so their evaluation
    starts soonest; then its resets and its sampled intervals), each followed in its own task by the
    queries it alone decides (the baselines, the raw samples at resets), and each counter's increases
    computed by the task that completes its third read, while the other counters' reads are still under
    way. Before, every counter's increases waited for every counter's reads, and the baselines and raw
    samples were asked only then: at 1,000 tenants the last 0.2 s of each gateway chunk was that phase
    alone, Prometheus idle (docs/performance.md, "Collection, seventh pass")."""
    start, end = window
    kinds = ("boundaries", "resets", "sampled")
    got: list[dict[str, Any]] = [{} for _ in selectors]
    done: list[CounterColumns | None] = [None] * len(selectors)
    lock = threading.Lock()

    def read(item: tuple[str, int]) -> None:
        kind, i = item
        selector = selectors[i]
        found: Any
        if kind == "boundaries":
            found = _boundaries(client, selector, window, step, lookback)
        elif kind == "resets":
            flagged = reset_boundaries(client, selector, start, end, step)
            found = raw_samples_at(client, selector, flagged, step)
        else:
            found = _sampled_stamps(client, selector, start, end, step)
        with lock:
            got[i][kind] = found
            last = len(got[i]) == len(kinds)
        if last:  # the same answers, whichever task completes them: the same increases
            done[i] = _increases(window, step, *(got[i].pop(k) for k in kinds))

    run(read, [(kind, i) for kind in kinds for i in range(len(selectors))])
    assert all(found is not None for found in done)  # run raises if any read failed
    return [found for found in done if found is not None]


def _boundaries(
    client: PromClient, selector: str, window: tuple[datetime, datetime], step: int, lookback: int
) -> _Boundaries:
    """The counter's value at each boundary; and, if some series has none at the window's first
    boundary (a series born within it, or silent there), the baselines: each series' last value within
    ``lookback`` before the window."""
    start, end = window
    answer = client.range_columns(selector, start, end, step)
    first_ts = int(start.timestamp())
    has_first = np.diff(answer.offsets) > 0
    has_first[has_first] = answer.stamps[answer.offsets[:-1][has_first]] == first_ts
    baselines: dict[Identity, float] = {}
    if not has_first.all():
        query = f"last_over_time({selector}[{lookback}s])"
        for s in client.instant_query(query, start):
            if s.points:
                baselines[identity(s.labels)] = s.points[-1][1]
    return _Boundaries(answer, has_first, baselines)


def _increases(
    window: tuple[datetime, datetime],
    step: int,
    boundaries: _Boundaries,
    raw_at_resets: dict[int, dict[Identity, list[float]]],
    sampled: dict[Identity, list[int]],
) -> CounterColumns:
    """One counter's columns from its answers: the boundaries' increases, and the series that need more
    (raw samples where an interval saw a reset, ``raw_at_resets`` by the boundary ending it; a silence to
    spread) taken one by one."""
    start, end = window
    answer, has_first, baselines = boundaries.answer, boundaries.has_first, boundaries.baselines
    first_ts = int(start.timestamp())
    keys = [identity(labels) for labels in answer.labels]
    raw = raw_at_resets if keys else {}
    sampled = sampled if keys else {}
    columns = _boundary_increases(answer, step, has_first, [baselines.get(key) for key in keys])
    intervals = range(first_ts, int(end.timestamp()), step)
    union: set[int] = set()
    silent: set[int] = set()
    slow: dict[int, dict[int, float]] = {}  # series handled one by one: their increases
    any_full = False
    for i, key in enumerate(keys):
        had = sampled.get(key, [])
        # a range answer's stamps ascend, one per interval: first + step ... end, all of them
        full = len(had) == len(intervals) and (
            not had or (had[0] == first_ts + step and had[-1] == intervals[-1] + step)
        )
        any_full = any_full or full
        mine = {ts: samples[key] for ts, samples in raw.items() if key in samples}
        if full and not mine:
            continue
        seen = bool(has_first[i]) or key in baselines
        quiet = None if mine else _silent_without_spreading(had, intervals, step, seen)
        if quiet is not None:  # a series born or ended within the window: nothing to spread
            silent.update(quiet)
            union.update(ts - step for ts in had)
            continue
        if mine:
            found = increases(answer.series(i), first_ts, step, baselines.get(key), mine)
        else:
            found = _segment(columns, i)
        had_intervals = frozenset(ts - step for ts in had)
        silent.update(spread_gaps(found, had_intervals, intervals, seen))
        union.update(had_intervals)
        slow[i] = found
    if any_full:
        union.update(intervals)
    if slow:
        columns = _replace(columns, slow)
    return CounterColumns(answer.labels, *columns, frozenset(union), frozenset(silent))


Columns = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]
"""(series index, interval start, increase) per increase, series in answer order."""


def _boundary_increases(
    answer: SeriesColumns, step: int, has_first: NDArray[np.bool_], baselines: list[float | None]
) -> Columns:
    """:func:`~attribution.collectors.counters.increases` without raw samples, for every series at once:
    the increase to each boundary from the one before it (``value - previous``, or ``value`` after a
    reset); a series' first boundary is its previous value where it is the window's first (``has_first``),
    else the increase from its baseline (None: a new series, counting from zero)."""
    values, lengths, firsts = answer.values, np.diff(answer.offsets), answer.offsets[:-1]
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    previous = np.zeros_like(values)
    previous[1:] = values[:-1]  # within a series, the boundary before; each series' first is set below
    new = np.zeros(len(values), dtype=bool)
    keep = np.ones(len(values), dtype=bool)
    keep[firsts[has_first]] = False  # the value at the window's first boundary: no increase of its own
    for i in np.flatnonzero((lengths > 0) & ~has_first).tolist():
        at, found = int(firsts[i]), baselines[i]
        previous[at] = 0.0 if found is None else found
        new[at] = found is None
    increase = np.where(~new & (values >= previous), values - previous, values)
    return owner[keep], answer.stamps[keep] - step, increase[keep]


def _silent_without_spreading(had: list[int], intervals: range, step: int, seen: bool) -> set[int] | None:
    """What :func:`spread_gaps` returns for a series sampled in one unbroken run of intervals (``had``:
    each one's end, ascending) that spreads nothing: the run starts the window or the series was not
    seen before it (a series born within the window), and the intervals after the run are silent (a
    series that stopped). None where it would spread (a gap inside the run, or before it once seen).
    At 1,000 tenants a quarter of the gateway's series are born within an hour."""
    if not had:
        return set(intervals) if seen else set()
    if had != list(range(had[0], had[-1] + step, step)) or had[-1] - step not in intervals:
        return None
    if seen and had[0] - step != intervals[0]:
        return None
    return set(range(had[-1], intervals.stop, step))


def _segment(columns: Columns, i: int) -> dict[int, float]:
    """Series ``i``'s increases as :func:`~attribution.collectors.counters.increases` gives them."""
    series, starts, values = columns
    low, high = np.searchsorted(series, [i, i + 1])
    return dict(zip(starts[low:high].tolist(), values[low:high].tolist(), strict=True))


def _replace(columns: Columns, slow: dict[int, dict[int, float]]) -> Columns:
    """The columns with each series of ``slow`` replaced by its increases there, series kept in order."""
    series, starts, values = columns
    pieces: list[Columns] = []
    at = 0
    for i, found in sorted(slow.items()):
        low, high = (int(x) for x in np.searchsorted(series, [i, i + 1]))
        pieces.append((series[at:low], starts[at:low], values[at:low]))
        stamps = np.fromiter(found, np.int64, len(found))
        pieces.append(
            (np.full(len(found), i, dtype=np.int64), stamps, np.fromiter(found.values(), np.float64))
        )
        at = high
    pieces.append((series[at:], starts[at:], values[at:]))
    return tuple(np.concatenate(column) for column in zip(*pieces, strict=True))  # type: ignore[return-value]


def _sampled_stamps(
    client: PromClient, selector: str, start: datetime, end: datetime, step: int
) -> dict[Identity, list[int]]:
    """Per series, the unix seconds ``t + step`` of each interval ``t`` with a raw sample in
    ``(t, t + step]`` (:func:`~attribution.collectors.counters.sampled_intervals`' query, its answer's
    stamps kept as they come: ascending, one per interval)."""
    query = f"count_over_time({selector}[{step * 1000 - 1}ms])"
    found = client.range_stamps(query, start + timedelta(seconds=step), end, step)
    return {identity(labels): stamps for labels, stamps in found}
