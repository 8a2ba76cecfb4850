"""Recovery incidents detected over columns: :func:`attribution.model.incidents.detect_incidents`'s rule,
with no Python object per pool-interval.

A month is close to a million pool-intervals, nearly all of them healthy. The serving framebuffer level,
each pool-interval's signals (engines absent, KV capacity zero, framebuffer filling) and the candidates
(a signal, and no gateway usage) are array operations; only the candidates (a few per incident) go
through the sequential rule in Python: ``reloading`` counts only right after a down interval, which may
itself be a ``reloading`` one. The object API stays the reference: tests hold both to the same
incidents on random pool-intervals.

The GPUs an incident held are not here (a string per GPU per pool-interval is what made detection slow):
the incidents come back with ``gpus`` empty, for the caller to read for those pools and intervals alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from attribution.model.incidents import (
    CAUSES,
    ENGINE_ABSENT,
    FB_SERVING_FRACTION,
    KV_CAPACITY_ZERO,
    RELOADING,
    Incident,
)
from attribution.model.vectorized_kernels import EXACT_FLOAT_INT, F64, I64, Mask


@dataclass(frozen=True, slots=True)
class PoolIntervalColumns:
    """The pool-intervals in which dcgm sampled a GPU of the pool (every row holds GPUs), one row each.

    Row i is pool ``pools[pool[i]]`` at ``start_s[i]`` (Unix seconds); ``pools`` sorted. Framebuffer:
    ``fb_used_bytes`` summed over the ``fb_used_rows`` GPU rows that reported it (the mean per GPU is
    their quotient). Engines: ``engines`` KV samples, ``kv_capacity_tokens`` the sum of the
    ``kv_capacity_known`` capacities reported. ``serving``: the gateway reported KV token-seconds there."""

    pools: list[str]
    pool: I64
    start_s: I64
    fb_used_bytes: I64
    fb_used_rows: I64
    engines: I64
    kv_capacity_tokens: I64
    kv_capacity_known: I64
    serving: Mask


def mean_fb_used_bytes(fb_used_bytes: I64, fb_used_rows: I64) -> F64:
    """``sum / count`` per row as Python's ``int / int`` gives it (correctly rounded), NaN where no row
    reported: numpy divides the sums as float64, exact below 2**53; larger sums are divided in Python."""
    counted = fb_used_rows > 0
    out = np.full(fb_used_bytes.size, np.nan)
    out[counted] = fb_used_bytes[counted].astype(np.float64) / fb_used_rows[counted].astype(np.float64)
    for i in np.flatnonzero(counted & (np.abs(fb_used_bytes) >= EXACT_FLOAT_INT)).tolist():
        out[i] = int(fb_used_bytes[i]) / int(fb_used_rows[i])
    return out


def detect_incident_columns(
    c: PoolIntervalColumns,
    window_start_s: int,
    window_end_s: int,
    interval_s: int,
    pools_with_engines: Iterable[str],
) -> list[Incident]:
    """:func:`attribution.model.incidents.detect_incidents` over columns, its ``gpus`` left empty.

    Rows before the window are context (their signals and their framebuffer count, their incidents do
    not); rows at or past its end and rows of pools not in ``pools_with_engines`` are ignored."""
    watched = set(pools_with_engines)
    kept = np.array([name in watched for name in c.pools] or [False], dtype=np.bool_)[c.pool]
    kept &= c.start_s < window_end_s
    mean = mean_fb_used_bytes(c.fb_used_bytes, c.fb_used_rows)
    absent = c.engines == 0
    zero = (c.kv_capacity_known > 0) & (c.kv_capacity_tokens == 0)
    has_fb = c.fb_used_rows > 0
    # each pool's serving level: its largest mean where its engines answered with a KV cache
    level = np.full(max(len(c.pools), 1), np.nan)
    at_level = kept & has_fb & ~absent & ~zero
    np.fmax.at(level, c.pool[at_level], mean[at_level])
    pool_level = level[c.pool]
    filling = has_fb & ~np.isnan(pool_level)
    filling[filling] = mean[filling] < FB_SERVING_FRACTION * pool_level[filling]
    candidate = np.flatnonzero(kept & ~c.serving & (absent | zero | filling))
    order = candidate[np.lexsort((c.start_s[candidate], c.pool[candidate]))]
    return _runs(c, order, absent, zero, window_start_s, interval_s)


def _runs(
    c: PoolIntervalColumns, order: I64, absent: Mask, zero: Mask, window_start_s: int, interval_s: int
) -> list[Incident]:
    """The sequential rule over the candidates ``order`` (by pool, then start), then the runs of down
    intervals from the window's start on, one incident each."""
    down: dict[tuple[int, int], str] = {}
    for pool, start, is_absent, is_zero in zip(
        c.pool[order].tolist(),
        c.start_s[order].tolist(),
        absent[order].tolist(),
        zero[order].tolist(),
        strict=True,
    ):
        if is_absent:
            down[(pool, start)] = ENGINE_ABSENT
        elif is_zero:
            down[(pool, start)] = KV_CAPACITY_ZERO
        elif (pool, start - interval_s) in down:
            down[(pool, start)] = RELOADING
    out: list[Incident] = []
    run: list[tuple[int, int]] = []
    for key in down:  # in (pool, start) order, as inserted
        if key[1] < window_start_s:
            continue
        if run and (key[0] != run[-1][0] or key[1] != run[-1][1] + interval_s):
            out.append(_incident(c.pools, run, down, interval_s))
            run = []
        run.append(key)
    if run:
        out.append(_incident(c.pools, run, down, interval_s))
    return out


def _incident(
    pools: list[str], run: list[tuple[int, int]], down: dict[tuple[int, int], str], interval_s: int
) -> Incident:
    seen = {down[key] for key in run}
    pool, first = run[0]
    causes = tuple(cause for cause in CAUSES if cause in seen)
    return Incident(pools[pool], first, run[-1][1] + interval_s, (), causes)
