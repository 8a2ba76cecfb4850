"""Exact arithmetic on piecewise-linear KV residency.

A request holds KV tokens along two linear segments: prefill [admit, prefill_end) rising 0 -> prompt and
decode [prefill_end, finish) rising prompt -> prompt + output; at finish it drops to 0. Everything here
is computed analytically from those segments, never by sampling:

* ``integrate_tokens``: the integral of held tokens (token-seconds) over each cell of a time grid;
* ``integrate_blocks``: the integral of held *blocks*, sum of ceil(tokens / block_size), likewise;
* ``sample_segments``: held tokens at given instants (for gauges);
* ``max_of_sum``: the supremum over a window of the summed held tokens of a group of requests.

Cells are half-open [edges[k], edges[k + 1]). Work is done in chunks of segments so a week of traffic
stays within a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from attribution.sim.engine import Requests
from attribution.sim.workload import FloatArray, IntArray

CHUNK_SEGMENTS = 500_000


@dataclass(frozen=True)
class Segments:
    """Linear pieces of held tokens: from ``held_start`` at ``start`` to ``held_end`` just before
    ``end`` (seconds). ``request`` indexes the ``Requests`` they came from; ``end > start`` always."""

    start: FloatArray
    end: FloatArray
    held_start: FloatArray
    held_end: FloatArray
    request: IntArray

    @property
    def count(self) -> int:
        return int(self.start.size)

    def take(self, index: IntArray | slice) -> Segments:
        return Segments(
            self.start[index],
            self.end[index],
            self.held_start[index],
            self.held_end[index],
            self.request[index],
        )


def kv_segments(requests: Requests) -> Segments:
    """Two segments per request: prefill then decode, in request order."""
    prompt = requests.prompt_tokens.astype(np.float64)
    context = requests.context_tokens.astype(np.float64)
    index = np.arange(requests.count, dtype=np.int64)
    return Segments(
        start=np.concatenate([requests.admit_seconds, requests.prefill_end_seconds]),
        end=np.concatenate([requests.prefill_end_seconds, requests.finish_seconds]),
        held_start=np.concatenate([np.zeros_like(prompt), prompt]),
        held_end=np.concatenate([prompt, context]),
        request=np.concatenate([index, index]),
    )


@dataclass(frozen=True)
class _Pieces:
    """Segment pieces clipped to grid cells: piece i covers [a[i], b[i]) of segment ``segment[i]``
    inside cell ``cell[i]``, holding ``held_a[i]`` at a and ``held_b[i]`` just before b."""

    segment: IntArray
    cell: IntArray
    a: FloatArray
    b: FloatArray
    held_a: FloatArray
    held_b: FloatArray


def _clip_to_cells(seg: Segments, edges: FloatArray) -> _Pieces:
    n_cells = edges.size - 1
    first = np.maximum(np.searchsorted(edges, seg.start, side="right") - 1, 0)
    last = np.minimum(np.searchsorted(edges, seg.end, side="left") - 1, n_cells - 1)
    counts = np.maximum(last - first + 1, 0)
    segment = np.repeat(np.arange(seg.count, dtype=np.int64), counts)
    offsets = np.arange(segment.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    cell = first[segment] + offsets
    s, e = seg.start[segment], seg.end[segment]
    a = np.maximum(s, edges[cell])
    b = np.minimum(e, edges[cell + 1])
    slope = (seg.held_end[segment] - seg.held_start[segment]) / (e - s)
    held_a = seg.held_start[segment] + slope * (a - s)
    held_b = seg.held_start[segment] + slope * (b - s)
    return _Pieces(segment, cell, a, b, held_a, held_b)


def _chunks(count: int) -> Iterator[slice]:
    for begin in range(0, count, CHUNK_SEGMENTS):
        yield slice(begin, min(count, begin + CHUNK_SEGMENTS))


def integrate_tokens(seg: Segments, group: IntArray, n_groups: int, edges: FloatArray) -> FloatArray:
    """Token-seconds per (group, cell): the exact integral of held tokens; shape (n_groups, cells).

    ``group`` gives each segment's group (e.g. tenant x tier, or pool).
    """
    n_cells = edges.size - 1
    total = np.zeros(n_groups * n_cells, dtype=np.float64)
    for part in _chunks(seg.count):
        pieces = _clip_to_cells(seg.take(part), edges)
        area = (pieces.b - pieces.a) * (pieces.held_a + pieces.held_b) * 0.5
        flat = group[part][pieces.segment] * n_cells + pieces.cell
        total += np.bincount(flat, weights=area, minlength=total.size)
    return total.reshape(n_groups, n_cells)


def _ceil_antiderivative(u: FloatArray) -> FloatArray:
    """F(u) = integral of ceil(x) dx from 0 to u, for u >= 0: n(n+1)/2 + (u - n)(n+1), n = floor(u)."""
    n = np.floor(u)
    return n * (n + 1.0) * 0.5 + (u - n) * (n + 1.0)


def integrate_blocks(
    seg: Segments,
    group: IntArray,
    n_groups: int,
    edges: FloatArray,
    block_size: FloatArray,
) -> FloatArray:
    """Block-seconds per (group, cell): the exact integral of ceil(held / block_size).

    ``block_size`` is per segment (pools may differ). On a piece where held rises linearly from h_a to
    h_b over [a, b), the integral is (F(h_b / bs) - F(h_a / bs)) x (b - a) / ((h_b - h_a) / bs).
    """
    n_cells = edges.size - 1
    total = np.zeros(n_groups * n_cells, dtype=np.float64)
    for part in _chunks(seg.count):
        pieces = _clip_to_cells(seg.take(part), edges)
        size = block_size[part][pieces.segment]
        u_a, u_b = pieces.held_a / size, pieces.held_b / size
        width = pieces.b - pieces.a
        rising = u_b > u_a
        area = np.where(
            rising,
            (_ceil_antiderivative(u_b) - _ceil_antiderivative(u_a))
            * width
            / np.where(rising, u_b - u_a, 1.0),
            np.ceil(u_a) * width,
        )
        flat = group[part][pieces.segment] * n_cells + pieces.cell
        total += np.bincount(flat, weights=area, minlength=total.size)
    return total.reshape(n_groups, n_cells)


def sample_segments(seg: Segments, times: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    """Held tokens at each instant in ``times`` (sorted) that a segment covers, start <= t < end.

    Returns (segment index, time index, held tokens) for every covered (segment, instant) pair.
    """
    first = np.searchsorted(times, seg.start, side="left")
    counts = np.searchsorted(times, seg.end, side="left") - first
    segment = np.repeat(np.arange(seg.count, dtype=np.int64), counts)
    offsets = np.arange(segment.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    time_index = first[segment] + offsets
    slope = (seg.held_end[segment] - seg.held_start[segment]) / (seg.end[segment] - seg.start[segment])
    held = seg.held_start[segment] + slope * (times[time_index] - seg.start[segment])
    return segment, time_index, held


def max_of_sum(seg: Segments, group: IntArray, n_groups: int, begin: float, end: float) -> FloatArray:
    """Per group, the supremum over [begin, end) of the summed held tokens of its segments.

    The sum is piecewise linear with non-negative slopes, so its supremum is its value at ``begin`` or
    a left limit at a breakpoint in (begin, end] (a finish drops the held tokens to 0). The sum is
    carried along the sorted breakpoints as value += slope x gap + jump; exact up to float rounding.
    """
    best = np.zeros(n_groups, dtype=np.float64)
    for g in range(n_groups):
        mine = seg.take(np.flatnonzero(group == g))
        if mine.count == 0:
            continue
        slope = (mine.held_end - mine.held_start) / (mine.end - mine.start)
        covering = (mine.start <= begin) & (begin < mine.end)
        at_begin = float(np.sum(mine.held_start[covering] + slope[covering] * (begin - mine.start[covering])))
        # Each segment adds its slope and start level at its start and removes slope and end level at
        # its end; decode starts at the level where prefill ended, so the sum stays continuous there.
        times = np.concatenate([mine.start, mine.end])
        d_slope = np.concatenate([slope, -slope])
        d_level = np.concatenate([mine.held_start, -mine.held_end])
        order = np.lexsort((d_level, times))  # on a tie, drops first: each drop sees the left limit
        times, d_slope, d_level = times[order], d_slope[order], d_level[order]
        slope_before = np.concatenate([[0.0], np.cumsum(d_slope)[:-1]])
        level_after = np.cumsum(slope_before * np.diff(times, prepend=times[0]) + d_level)
        level_before = level_after - d_level
        inside = level_before[(times > begin) & (times <= end)]
        best[g] = max(at_begin, float(inside.max()) if inside.size else 0.0)
    return best


def cumulative_events(
    event_seconds: FloatArray, scrape_seconds: FloatArray, weights: FloatArray | None = None
) -> FloatArray:
    """At each scrape t, the (weighted) count of events strictly before t.

    Counting tau < t makes counter(t_b) - counter(t_a) the events in [t_a, t_b), matching the half-open
    intervals of the ground truth.
    """
    index = np.searchsorted(scrape_seconds, event_seconds, side="right")
    per_scrape = np.bincount(index, weights=weights, minlength=scrape_seconds.size + 1)
    return np.cumsum(per_scrape[: scrape_seconds.size]).astype(np.float64)


def cumulative_histogram(
    event_seconds: FloatArray,
    values: FloatArray,
    bounds: tuple[float, ...],
    scrape_seconds: FloatArray,
) -> tuple[IntArray, FloatArray]:
    """Cumulative bucket counts, shape (scrapes, len(bounds) + 1) with +Inf last, and the running sum.

    Bucket i counts observations <= bounds[i] made strictly before the scrape.
    """
    n_scrapes, n_buckets = scrape_seconds.size, len(bounds) + 1
    index = np.searchsorted(scrape_seconds, event_seconds, side="right")
    bucket = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="left")
    flat = np.bincount(index * n_buckets + bucket, minlength=(n_scrapes + 1) * n_buckets)
    counts = flat.reshape(n_scrapes + 1, n_buckets)[:n_scrapes]
    cumulative = np.cumsum(np.cumsum(counts, axis=0), axis=1).astype(np.int64)
    sums = cumulative_events(event_seconds, scrape_seconds, values)
    return cumulative, sums
