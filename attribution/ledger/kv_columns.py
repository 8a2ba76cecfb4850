"""Every pool-interval's KV capacity, mean KV usage, bytes per token and engine activity, from the
engines' samples, as columns: no Python object per sample or per pool-interval.

Per pool, samples are taken in (interval, engine) order. An engine that reports its capacity (tokens)
sets the pool's carried capacity and bytes per token (its own, or the pool's last known one when it
reports none, at first the catalog's); an engine that reports a usage but no capacity counts with the
pool's carried figures, or not at all before the pool's first report. A pool-interval with counted
engines has their capacities' sum (bytes) and the capacity-weighted mean of their usage, both summed
exactly rounded (``math.fsum``: the result does not depend on the engines' order); one without has the
carried capacity and no usage reading. ``requests_running`` is summed over the interval's engines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from attribution.model.vectorized_kernels import I64, Mask, runs
from attribution.store.kv_sample_columns import KvSampleColumns, as_kv_columns

F64 = npt.NDArray[np.float64]
SAFE_PRODUCT = 2.0**62


@dataclass(slots=True)
class PoolKv:
    """Per pool-interval (the rows asked for): capacity (bytes) and where known, usage ratio and where
    read, bytes per token, requests running (NaN where none reported); and each pool's bytes per token
    after the window (the catalog's where no engine reported one)."""

    capacity: I64
    has_capacity: Mask
    ratio: F64
    has_ratio: Mask
    bytes_per_token: I64
    running: F64
    final_bytes_per_token: dict[str, int]


def _exact_sums(values: F64, first: I64, length: I64) -> F64:
    """``math.fsum`` of each run: a single value is its own sum and a correctly rounded addition of two
    finite values is their exact sum rounded; longer or non-finite runs are summed by ``math.fsum``."""
    sums = values[first].copy()
    two = np.flatnonzero(length == 2)
    sums[two] = values[first[two]] + values[first[two] + 1]
    long = np.flatnonzero((length > 2) | ((length == 2) & ~np.isfinite(sums)))
    for i in long.tolist():
        lo = int(first[i])
        sums[i] = math.fsum(values[lo : lo + int(length[i])].tolist())
    return sums


@dataclass(slots=True)
class Samples:
    """The samples on the grid, sorted by (pool, start, engine): start, pool names and codes, ratio,
    capacity tokens and where reported, bytes per token (0: none), requests running (NaN: none)."""

    ts: I64
    pools: list[str]
    pool: I64
    ratio: F64
    tokens: I64
    reports: Mask
    bpt: I64
    running: F64


def _samples(kv: KvSampleColumns, grid: tuple[int, int, int]) -> Samples | None:
    if len(kv) == 0:
        return None
    t0, t1, step = grid
    ts = kv.start_s
    keep = np.flatnonzero((ts >= t0) & (ts < t1) & ((ts - t0) % step == 0))
    if keep.size == 0:
        return None
    # the pools of the samples kept, coded anew in their (sorted) order; engines order only
    used, pool = np.unique(kv.pool[keep], return_inverse=True)
    pools = [kv.pools[int(code)] for code in used]
    pool = pool.astype(np.int64).reshape(-1)
    engine = kv.engine[keep]
    ts = ts[keep]
    order = np.lexsort((engine, ts, pool))
    keep = keep[order]
    return Samples(
        ts[order],
        pools,
        pool[order],
        kv.ratio[keep],
        kv.tokens[keep],
        kv.reports[keep],
        kv.bytes_per_token[keep],
        kv.running[keep],
    )


@dataclass(slots=True)
class Counted:
    """Per sample: bytes per token, and the sample of the capacity it counts with (``counted``: any)."""

    per_token: I64
    counted: Mask
    source: I64
    capacity_bytes: I64


def _counted(s: Samples, fallback: I64) -> Counted:
    """Which samples count, with which capacity (module docstring), as running maxima over the samples
    (the last reporting sample of the pool so far), never a loop over them."""
    idx = np.arange(s.ts.size, dtype=np.int64)
    pool_first, pool_len = runs(s.pool)
    first_of = np.repeat(pool_first, pool_len)
    # bytes per token of a reporting sample: its own, else the pool's last reported, else the catalog's
    last_valid = np.maximum.accumulate(np.where(s.reports & (s.bpt != 0), idx, -1))
    per_token = np.where(last_valid >= first_of, s.bpt[np.maximum(last_valid, 0)], fallback[s.pool])
    # a sample counts with its own capacity, or the pool's last reported one, or not at all
    last_report = np.maximum.accumulate(np.where(s.reports, idx, -1))
    if np.any(np.abs(s.tokens.astype(np.float64) * per_token.astype(np.float64)) >= SAFE_PRODUCT):
        raise ValueError("a KV capacity in bytes beyond int64")
    source = np.maximum(last_report, 0)
    return Counted(per_token, last_report >= first_of, source, s.tokens[source] * per_token[source])


def pool_kv(
    kv_samples: KvSampleColumns | Sequence[Any],
    pools: Sequence[str],
    start_s: I64,
    pool: I64,
    fallback_bytes_per_token: Mapping[str, int],
    grid: tuple[int, int, int],
) -> PoolKv:
    """The KV figures of the pool-intervals (``start_s``, ``pools[pool]``) from ``kv_samples`` (the job's
    columns, or rows in the column order of :func:`attribution.store.inputs.kv_samples`: tests and the
    reference); ``grid`` is (first start, end, step): samples off it are not read, as no pool-interval
    starts there."""
    n = start_s.size
    final = dict(fallback_bytes_per_token)
    pool_fallback = np.array([final.get(p, 1) for p in pools] or [1], dtype=np.int64)[pool]
    s = _samples(as_kv_columns(kv_samples), grid)
    if s is None:
        none_i, none_f = np.zeros(n, dtype=np.int64), np.full(n, math.nan)
        return PoolKv(none_i, none_i > 0, none_f, none_i > 0, pool_fallback, none_f.copy(), final)
    c = _counted(s, np.array([final.get(p, 1) for p in s.pools], dtype=np.int64))
    t0, _, step = grid
    span = (int(start_s.max(initial=t0)) - t0) // step + (int(s.ts.max()) - t0) // step + 2

    def key(codes: I64, starts: I64) -> I64:
        return codes * span + (starts - t0) // step

    kept = np.flatnonzero(c.counted)
    kept_key = key(s.pool[kept], s.ts[kept])
    group_first, group_len = runs(kept_key)
    group_key = kept_key[group_first]
    cap = c.capacity_bytes.astype(np.float64)
    used = s.ratio * s.tokens[c.source].astype(np.float64) * c.per_token[c.source].astype(np.float64)
    cap_sum = _exact_sums(cap[kept], group_first, group_len)
    used_sum = _exact_sums(used[kept], group_first, group_len)
    # each pool-interval: its group of counted samples, else the carried capacity; bytes per token and
    # the carried capacity are those of the pool's last report at or before its start
    to_kv = {name: i for i, name in enumerate(s.pools)}
    kv_code = np.array([to_kv.get(p, -1) for p in pools] or [-1], dtype=np.int64)[pool]
    wanted = key(kv_code, start_s)
    at = np.minimum(np.searchsorted(group_key, wanted), max(group_key.size - 1, 0))
    found = (kv_code >= 0) & (group_key[at] == wanted) if group_key.size else np.zeros(n, dtype=np.bool_)
    reported = np.flatnonzero(s.reports)
    last = np.searchsorted(key(s.pool[reported], s.ts[reported]), wanted, side="right") - 1
    has_last = (kv_code >= 0) & (last >= 0)
    last_row = reported[np.maximum(last, 0)] if reported.size else np.zeros(n, dtype=np.int64)
    has_last &= s.pool[last_row] == kv_code
    cap_at = cap_sum[at] if cap_sum.size else np.zeros(n)
    capacity = np.where(found, np.rint(cap_at), 0).astype(np.int64)
    carried = has_last & ~found
    capacity[carried] = c.capacity_bytes[last_row[carried]]
    has_ratio = found & (cap_at != 0)
    ratio = np.full(n, math.nan)
    ratio[has_ratio] = used_sum[at[has_ratio]] / cap_at[has_ratio]
    pool_reports = s.pool[reported]
    for code, back in zip(*np.unique(pool_reports[::-1], return_index=True), strict=True):
        final[s.pools[int(code)]] = int(c.per_token[reported[reported.size - 1 - int(back)]])
    return PoolKv(
        capacity=capacity,
        has_capacity=found | carried,
        ratio=ratio,
        has_ratio=has_ratio,
        bytes_per_token=np.where(has_last, c.per_token[last_row], pool_fallback).astype(np.int64),
        running=_running(key(s.pool, s.ts), s.running, wanted),
        final_bytes_per_token=final,
    )


def _running(sample_key: I64, running: F64, wanted: I64) -> F64:
    """Requests running summed over each pool-interval's engines that reported it (NaN where none)."""
    reported = np.flatnonzero(~np.isnan(running))
    out = np.full(wanted.size, math.nan)
    if reported.size == 0:
        return out
    first, _ = runs(sample_key[reported])
    sums = np.add.reduceat(running[reported], first)
    keys = sample_key[reported][first]
    at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    hit = keys[at] == wanted
    out[hit] = sums[at[hit]]
    return out
