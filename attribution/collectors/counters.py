"""Exact, reset-aware counter increases per interval, from raw values rather than ``increase()``.

``increase()`` extrapolates to the window edges and gives fractional requests; differencing the value at
each interval boundary keeps every token and token-second, and sums over intervals telescope to the
window's total, however the window is chunked. Three things make that hold on real clusters:

* **Baseline.** The value at the window's first boundary comes from the range query; a series without one
  there (a scrape gap longer than the 5-minute lookback, a target that was down) takes its baseline from
  ``last_over_time(selector[counter_baseline_lookback])`` at that boundary. Only a series with no sample
  in that lookback is new, and counts from zero. Without this, every gap that straddled the start of a
  run would bill the counter's whole history again.
* **Resets.** A decrease between boundaries is a reset (an engine or gateway restart): the new value counts
  from zero, never negative. A reset hidden inside an interval (the counter restarted and grew past its
  old value before the next boundary) shows in ``resets(selector[2 x step])``; for those intervals only,
  the raw samples (``selector[step]`` at the interval's end) are differenced one by one, so the growth
  before and after the restart both count.
* **Identity.** Series are matched across the three queries on their labels without ``__name__``
  (functions drop it), so a profile's counter selector must select one metric name.

The increase between boundaries ``t`` and ``t + step`` belongs to the interval ``[t, t + step)``.

**Gaps.** Where Prometheus holds no sample of a series for some intervals (it was down, or the target was
not scraped), the boundary values there repeat the last sample (or vanish), so the whole growth across
the gap would land in the first interval after it: a spike that moves memory-time between tiers and
settlement windows. ``count_over_time(selector[step])`` finds each series' silent intervals; the increase
of a gap and of the first interval after it is spread evenly over them (integer counters by largest
remainder, so the sum is unchanged), and those intervals are reported ``silent`` (the gateway collector
records them as missing, and the attribution marks their usage estimated). A gap still open at the end of
the window, or one that began in an earlier chunk, is spread only over the part inside this window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from attribution.collectors.answers import Series
from attribution.collectors.prom import PromClient, utc_from_seconds

Identity = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CounterIncreases:
    labels: dict[str, str]
    increases: dict[int, float]
    """Interval start (unix s) -> increase; intervals where the series had no new boundary are absent."""
    sampled: frozenset[int] = frozenset()
    """Interval starts in which the series had at least one raw sample."""
    silent: frozenset[int] = frozenset()
    """Interval starts without a sample between two the series had (a gap): their increase is spread."""


def identity(labels: Mapping[str, str]) -> Identity:
    named = dict(labels)
    named.pop("__name__", None)  # not a filter per label: this runs for every series of every answer
    return tuple(sorted(named.items()))


def step_increase(previous: float, value: float) -> float:
    return value - previous if value >= previous else value


def raw_increase(previous: float, samples: Sequence[float]) -> float:
    """Reset-aware sum over consecutive raw samples, starting from the previous boundary's value."""
    total, last = 0.0, previous
    for value in samples:
        total += step_increase(last, value)
        last = value
    return total


def increases(
    series: Series,
    first_ts: int,
    step: int,
    baseline: float | None = None,
    raw: Mapping[int, Sequence[float]] | None = None,
) -> dict[int, float]:
    """Increase per interval start from boundary values at ``first_ts``, ``first_ts + step``, ...

    ``baseline`` is the value at ``first_ts`` when the series has no point there (None: a new series,
    counting from zero). ``raw`` maps a boundary to the raw samples in the interval ending there.
    """
    out: dict[int, float] = {}
    points = series.points
    previous: float | None = baseline
    if points and points[0][0] == first_ts:
        previous = points[0][1]
        points = points[1:]
    if not raw:  # the common case, no reset inside an interval: step_increase inlined (a call per sample)
        for ts, value in points:
            out[ts - step] = value - previous if previous is not None and value >= previous else value
            previous = value
        return out
    for ts, value in points:
        samples = raw.get(ts)
        if samples:
            out[ts - step] = raw_increase(0.0 if previous is None else previous, samples)
        elif previous is None:
            out[ts - step] = value  # new series: it counted from zero
        else:
            out[ts - step] = step_increase(previous, value)
        previous = value
    return out


def counter_increases(
    client: PromClient,
    selector: str,
    start: datetime,
    end: datetime,
    step: int,
    baseline_lookback_seconds: int,
) -> list[CounterIncreases]:
    """Per series, the increase of counter ``selector`` in each interval of ``[start, end)``."""
    first_ts = int(start.timestamp())
    boundaries = client.range_query(selector, start, end, step)
    baselines: dict[Identity, float] = {}
    if any(not s.points or s.points[0][0] != first_ts for s in boundaries):
        query = f"last_over_time({selector}[{baseline_lookback_seconds}s])"
        for s in client.instant_query(query, start):
            if s.points:
                baselines[identity(s.labels)] = s.points[-1][1]
    raw = raw_samples_where_reset(client, selector, start, end, step) if boundaries else {}
    sampled = _sampled_intervals(client, selector, start, end, step) if boundaries else {}
    intervals = range(first_ts, int(end.timestamp()), step)
    out = []
    for s in boundaries:
        key = identity(s.labels)
        mine = {ts: samples[key] for ts, samples in raw.items() if key in samples}
        found = increases(s, first_ts, step, baselines.get(key), mine)
        seen = bool(s.points and s.points[0][0] == first_ts) or key in baselines
        had = sampled.get(key, frozenset())
        silent = spread_gaps(found, had, intervals, seen)
        out.append(CounterIncreases(s.labels, found, had, silent))
    return out


def spread_gaps(
    found: dict[int, float], sampled: frozenset[int], intervals: range, seen: bool
) -> frozenset[int]:
    """Spread, in place, the increase of each run of silent intervals and the sampled interval that ends
    it evenly over them; returns the silent intervals. ``seen``: the series had a sample before the window
    (a silent run at its start is a gap, not a series yet to appear)."""
    if sampled.issuperset(intervals):  # the common case, a sample in every interval: nothing to spread
        return frozenset()
    silent: set[int] = set()
    pending: list[int] = []
    for ts in intervals:
        if ts not in sampled:
            if seen:
                pending.append(ts)
            continue
        if pending:
            span = [*pending, ts]
            for t, share in zip(span, _even(sum(found.get(t, 0.0) for t in span), len(span)), strict=True):
                found[t] = share
            silent.update(pending)
            pending = []
        seen = True
    silent.update(pending)
    return frozenset(silent)


def _even(total: float, n: int) -> list[float]:
    """``total`` in ``n`` even shares summing to it exactly: whole units by largest remainder (the later
    intervals, nearer the sample that measured it, take the extra ones), else equal floats with the last
    taking the rounding."""
    if float(total).is_integer():
        q, r = divmod(int(total), n)
        return [float(q + (1 if i >= n - r else 0)) for i in range(n)]
    share = total / n
    return [share] * (n - 1) + [total - share * (n - 1)]


def _sampled_intervals(
    client: PromClient, selector: str, start: datetime, end: datetime, step: int
) -> dict[Identity, frozenset[int]]:
    """Per series, the interval starts ``t`` with a raw sample in ``(t, t + step]``: the range is one
    millisecond (Prometheus' resolution) short of the step, since Prometheus 2 includes its left edge."""
    query = f"count_over_time({selector}[{step * 1000 - 1}ms])"  # only where it is > 0: no value needed
    found = client.range_stamps(query, start + timedelta(seconds=step), end, step)
    return {identity(labels): frozenset([ts - step for ts in stamps]) for labels, stamps in found}


def raw_samples_where_reset(
    client: PromClient, selector: str, start: datetime, end: datetime, step: int
) -> dict[int, dict[Identity, list[float]]]:
    """For each boundary whose interval (or the one before it) saw a reset, the raw samples per series.
    ``> 0`` filters at the source: resets are rare, so the answer is nearly empty instead of a zero per
    series and interval (a quarter of every sample a collection parsed)."""
    return raw_samples_at(client, selector, reset_boundaries(client, selector, start, end, step), step)


def reset_boundaries(
    client: PromClient, selector: str, start: datetime, end: datetime, step: int
) -> list[int]:
    """The boundaries (unix s, ascending) whose interval or the one before it saw a reset of any series."""
    first = start + timedelta(seconds=step)
    answer = client.range_query(f"resets({selector}[{2 * step}s]) > 0", first, end, step)
    return sorted({ts for s in answer for ts, count in s.points if count > 0})


def raw_samples_at(
    client: PromClient, selector: str, flagged: list[int], step: int
) -> dict[int, dict[Identity, list[float]]]:
    """The raw samples per series in the interval ending at each of the ``flagged`` boundaries."""
    out: dict[int, dict[Identity, list[float]]] = {}
    for ts in flagged:
        out[ts] = {
            identity(s.labels): [v for _, v in s.points]
            for s in client.instant_query(f"{selector}[{step}s]", utc_from_seconds(ts))
        }
    return out
