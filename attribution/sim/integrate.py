"""Exact arithmetic on piecewise-linear KV residency.

The engine reports *pieces*: over [start, end) a request of ``group`` in ``pool`` holds ``held_start``
tokens at ``start``, rising at ``rate`` tokens/s, to ``held_end`` just before ``end``. Everything here is
computed analytically from the pieces, never by sampling:

* ``integrate_tokens``: the integral of held tokens (token-seconds) over each cell of a time grid;
* ``integrate_blocks``: the integral of held *blocks*, sum of ceil(tokens / block_size), likewise;
* ``sample_pieces``: held tokens at given instants (for gauges);
* ``max_of_sum``: per group, the supremum over a window of the group's summed held tokens.

Cells are half-open [edges[k], edges[k + 1]). Work is done in chunks of pieces to bound memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from attribution.sim.workload import FloatArray, IntArray

CHUNK_PIECES = 500_000


@dataclass(frozen=True)
class Pieces:
    """Linear pieces of held tokens; ``end > start`` always. ``group`` is tenant profile x n_tiers + tier."""

    start: FloatArray
    end: FloatArray
    held_start: FloatArray
    held_end: FloatArray
    rate: FloatArray
    pool: IntArray
    group: IntArray

    @property
    def count(self) -> int:
        return int(self.start.size)

    def take(self, index: IntArray | slice) -> Pieces:
        return Pieces(
            self.start[index],
            self.end[index],
            self.held_start[index],
            self.held_end[index],
            self.rate[index],
            self.pool[index],
            self.group[index],
        )


@dataclass(frozen=True)
class _Clipped:
    """Pieces clipped to grid cells: item i covers [a[i], b[i]) of piece ``piece[i]`` inside cell
    ``cell[i]``, holding ``held_a[i]`` at a and ``held_b[i]`` just before b."""

    piece: IntArray
    cell: IntArray
    a: FloatArray
    b: FloatArray
    held_a: FloatArray
    held_b: FloatArray


def _clip_to_cells(seg: Pieces, edges: FloatArray) -> _Clipped:
    n_cells = edges.size - 1
    first = np.maximum(np.searchsorted(edges, seg.start, side="right") - 1, 0)
    last = np.minimum(np.searchsorted(edges, seg.end, side="left") - 1, n_cells - 1)
    counts = np.maximum(last - first + 1, 0)
    piece = np.repeat(np.arange(seg.count, dtype=np.int64), counts)
    offsets = np.arange(piece.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    cell = first[piece] + offsets
    s, e = seg.start[piece], seg.end[piece]
    a = np.maximum(s, edges[cell])
    b = np.minimum(e, edges[cell + 1])
    slope = (seg.held_end[piece] - seg.held_start[piece]) / (e - s)
    held_a = seg.held_start[piece] + slope * (a - s)
    held_b = seg.held_start[piece] + slope * (b - s)
    return _Clipped(piece, cell, a, b, held_a, held_b)


def _chunks(count: int) -> Iterator[slice]:
    for begin in range(0, count, CHUNK_PIECES):
        yield slice(begin, min(count, begin + CHUNK_PIECES))


def integrate_tokens(seg: Pieces, key: IntArray, n_keys: int, edges: FloatArray) -> FloatArray:
    """Token-seconds per (key, cell), the exact integral of held tokens; shape (n_keys, cells).

    ``key`` gives each piece's row (e.g. its group, or its pool).
    """
    n_cells = edges.size - 1
    total = np.zeros(n_keys * n_cells, dtype=np.float64)
    for part in _chunks(seg.count):
        clipped = _clip_to_cells(seg.take(part), edges)
        area = (clipped.b - clipped.a) * (clipped.held_a + clipped.held_b) * 0.5
        flat = key[part][clipped.piece] * n_cells + clipped.cell
        total += np.bincount(flat, weights=area, minlength=total.size)
    return total.reshape(n_keys, n_cells)


def _ceil_antiderivative(u: FloatArray) -> FloatArray:
    """F(u) = integral of ceil(x) dx from 0 to u, for u >= 0: n(n+1)/2 + (u - n)(n+1), n = floor(u)."""
    n = np.floor(u)
    return n * (n + 1.0) * 0.5 + (u - n) * (n + 1.0)


def integrate_blocks(
    seg: Pieces, key: IntArray, n_keys: int, edges: FloatArray, block_size: FloatArray
) -> FloatArray:
    """Block-seconds per (key, cell): the exact integral of ceil(held / block_size).

    ``block_size`` is per piece (pools may differ). On a piece where held rises linearly from h_a to h_b
    over [a, b), the integral is (F(h_b / bs) - F(h_a / bs)) x (b - a) / ((h_b - h_a) / bs).
    """
    n_cells = edges.size - 1
    total = np.zeros(n_keys * n_cells, dtype=np.float64)
    for part in _chunks(seg.count):
        clipped = _clip_to_cells(seg.take(part), edges)
        size = block_size[part][clipped.piece]
        u_a, u_b = clipped.held_a / size, clipped.held_b / size
        width = clipped.b - clipped.a
        rising = u_b > u_a
        area = np.where(
            rising,
            (_ceil_antiderivative(u_b) - _ceil_antiderivative(u_a))
            * width
            / np.where(rising, u_b - u_a, 1.0),
            np.ceil(u_a) * width,
        )
        flat = key[part][clipped.piece] * n_cells + clipped.cell
        total += np.bincount(flat, weights=area, minlength=total.size)
    return total.reshape(n_keys, n_cells)


def sample_pieces(seg: Pieces, times: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    """Held tokens at each instant in ``times`` (sorted) that a piece covers, start <= t < end, computed
    as held_start + rate x (t - start), the engine's own formula.

    Returns (piece index, time index, held tokens) for every covered (piece, instant) pair.
    """
    first = np.searchsorted(times, seg.start, side="left")
    counts = np.searchsorted(times, seg.end, side="left") - first
    piece = np.repeat(np.arange(seg.count, dtype=np.int64), counts)
    offsets = np.arange(piece.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    time_index = first[piece] + offsets
    held = seg.held_start[piece] + seg.rate[piece] * (times[time_index] - seg.start[piece])
    return piece, time_index, held


def max_of_sum(seg: Pieces, key: IntArray, n_keys: int) -> FloatArray:
    """Per key, the supremum over time of the summed held tokens of its pieces (0 for a key without any).

    The sum is piecewise linear with non-negative slopes between breakpoints, so its supremum is a value
    just after or a left limit just before a breakpoint. Each piece adds its slope and start level at its
    start and removes its slope and end level at its end; events are sorted by (key, time, drop first) and
    the level carried along each key's events with a segmented cumulative sum.
    """
    best = np.zeros(n_keys, dtype=np.float64)
    if seg.count == 0:
        return best
    slope = (seg.held_end - seg.held_start) / (seg.end - seg.start)
    keys = np.concatenate([key, key])
    times = np.concatenate([seg.start, seg.end])
    d_slope = np.concatenate([slope, -slope])
    d_level = np.concatenate([seg.held_start, -seg.held_end])
    order = np.lexsort((d_level, times, keys))
    keys, times, d_slope, d_level = keys[order], times[order], d_slope[order], d_level[order]
    first = np.ones(keys.size, dtype=np.bool_)
    first[1:] = keys[1:] != keys[:-1]
    gap = np.diff(times, prepend=times[0])
    gap[first] = 0.0
    slope_cum = np.cumsum(d_slope)
    start_index = np.maximum.accumulate(np.where(first, np.arange(keys.size), 0))
    slope_before = slope_cum - d_slope - (slope_cum[start_index] - d_slope[start_index])
    step = slope_before * gap + d_level
    step_cum = np.cumsum(step)
    level_after = step_cum - (step_cum[start_index] - step[start_index])
    level_before = level_after - d_level
    starts = np.flatnonzero(first)
    best[keys[starts]] = np.maximum.reduceat(np.maximum(level_after, level_before), starts)
    return best
