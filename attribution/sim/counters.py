"""Counters and histograms at scrape instants, carried from chunk to chunk.

A counter's value at scrape t counts the events at times tau < t, so counter(t_b) - counter(t_a) is exactly
the events in [t_a, t_b), the half-open intervals of the ground truth. Rows are series; a bank's rows may
grow between chunks (new series append). A *reset* at instant r (an engine restart) makes the scrapes at or
after r count only the events in [r, t), as a restarted process's counters do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attribution.sim.workload import FloatArray, IntArray


def window_sums(
    scrapes: FloatArray, times: FloatArray, rows: IntArray, n_rows: int, weights: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Per row, the (weighted) sum of the given events strictly before each scrape, shape (n_rows, m), and
    the row totals over all the given events."""
    m = scrapes.size
    index = np.searchsorted(scrapes, times, side="right")
    flat = np.bincount(rows * (m + 1) + index, weights=weights, minlength=n_rows * (m + 1))
    cumulative = np.cumsum(flat.reshape(n_rows, m + 1), axis=1, dtype=np.float64)
    return cumulative[:, :m], cumulative[:, m]


class CounterBank:
    """Cumulative counters of a set of rows, carried across chunks."""

    def __init__(self) -> None:
        self.carry = np.zeros(0, dtype=np.float64)

    def values(
        self,
        scrapes: FloatArray,
        times: FloatArray,
        rows: IntArray,
        n_rows: int,
        weights: FloatArray | None = None,
        resets: Sequence[float] = (),
    ) -> FloatArray:
        """Counter values (n_rows, m) at ``scrapes`` given this chunk's events; ``resets`` are instants
        inside the chunk, in order, where every row restarts from zero."""
        if n_rows > self.carry.size:
            self.carry = np.concatenate([self.carry, np.zeros(n_rows - self.carry.size)])
        carry = self.carry[:n_rows]
        within, total = window_sums(scrapes, times, rows, n_rows, weights)
        values = carry[:, None] + within
        offset = np.zeros(n_rows, dtype=np.float64)
        for instant in resets:
            before, _ = window_sums(np.array([instant]), times, rows, n_rows, weights)
            at_reset = carry + before[:, 0] - offset
            values[:, np.searchsorted(scrapes, instant, side="left") :] -= at_reset[:, None]
            offset += at_reset
        self.carry[:n_rows] = carry + total - offset
        return values


class HistogramBank:
    """Cumulative histograms (buckets with ``le`` = ``bounds`` then +Inf, and sums) of a set of rows."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self._counts = CounterBank()
        self._sums = CounterBank()

    def values(
        self,
        scrapes: FloatArray,
        times: FloatArray,
        rows: IntArray,
        n_rows: int,
        observed: FloatArray,
        resets: Sequence[float] = (),
    ) -> tuple[IntArray, FloatArray]:
        """(cumulative bucket counts, shape (n_rows, len(bounds) + 1, m), +Inf last; sums, (n_rows, m)).

        An observation v falls in every bucket with v <= le, as Prometheus clients count.
        """
        n_buckets = self.bounds.size + 1
        bucket = np.searchsorted(self.bounds, observed, side="left")
        counts = self._counts.values(
            scrapes, times, rows * n_buckets + bucket, n_rows * n_buckets, None, resets
        ).reshape(n_rows, n_buckets, scrapes.size)
        cumulative = np.rint(np.cumsum(counts, axis=1)).astype(np.int64)
        return cumulative, self._sums.values(scrapes, times, rows, n_rows, observed, resets)


class Births:
    """When each row's series first exists: a client library creates a labelled child on first use."""

    def __init__(self) -> None:
        self.born = np.zeros(0, dtype=np.float64)

    def update(self, times: FloatArray, rows: IntArray, n_rows: int) -> FloatArray:
        """Fold in this chunk's first-use events; return each row's birth time (inf if not yet)."""
        if n_rows > self.born.size:
            self.born = np.concatenate([self.born, np.full(n_rows - self.born.size, np.inf)])
        np.minimum.at(self.born, rows, times)
        return self.born[:n_rows]

    def present(self, scrapes: FloatArray, n_rows: int) -> np.ndarray:
        """(n_rows, m): a series appears at the first scrape at or after its birth."""
        return scrapes[None, :] >= self.born[:n_rows, None]
