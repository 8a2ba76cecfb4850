"""Incident detection's pool-intervals as columns, from the rows the attribution job already read.

The job reads the GPU counts (GPU rows summed by interval, type, pool and placement), every KV sample and
the tenant usage as columns; detection needs, per pool and interval in which dcgm sampled a GPU of the
pool, its framebuffer used (sum and rows), its engines' KV samples (count, summed capacity and how many
reported one) and whether the gateway reported KV token-seconds there. Grouping those here replaces a
second scan of ``gpu_samples`` and ``kv_samples`` and a probe into ``tenant_usage`` per pool-interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from attribution.model.vectorized_incidents import PoolIntervalColumns
from attribution.model.vectorized_kernels import I64
from attribution.model.vectorized_usage import UsageColumns
from attribution.store.gpu_columns import GpuCountColumns
from attribution.store.kv_sample_columns import KvSampleColumns, as_kv_columns


def detection_columns(
    counts: GpuCountColumns, kv_samples: KvSampleColumns | Sequence[Any], usage: Sequence[UsageColumns]
) -> PoolIntervalColumns:
    """One row per (pool, interval) of the GPU counts with a pool (GPUs of any type, or of none), by pool
    then start; the KV samples and usage of other pool-intervals are not read (no GPUs: never an
    incident). ``kv_samples``: the job's columns (or rows: tests); ``usage``: the usage columns of the spans
    the counts cover."""
    placed = counts.pool >= 0
    pools = counts.pools  # sorted, each used by some row, and only rows with a pool have a code
    ts = counts.start_s[placed]
    times = np.unique(ts)
    width = max(times.size, 1)

    def key(pool: I64, starts: I64) -> I64:
        """Each (pool code, start)'s key, -1 where the start has no GPU row."""
        at = np.minimum(np.searchsorted(times, starts), max(times.size - 1, 0))
        hit = (pool >= 0) & (times[at] == starts) if times.size else np.zeros(starts.size, dtype=np.bool_)
        return np.where(hit, pool * width + at, -1)

    gpu_key = key(counts.pool[placed], ts)
    keys, inverse = np.unique(gpu_key, return_inverse=True)
    inverse = inverse.reshape(-1)
    fb_used, fb_rows = np.zeros(keys.size, dtype=np.int64), np.zeros(keys.size, dtype=np.int64)
    np.add.at(fb_used, inverse, counts.fb_used_bytes[placed])
    np.add.at(fb_rows, inverse, counts.fb_used_rows[placed])
    code = {name: i for i, name in enumerate(pools)}

    def rows_of(names: list[str], pool: I64, starts: I64) -> I64:
        """The row of each (``names[pool]``, start), -1 where none."""
        codes = np.array([code.get(name, -1) for name in names] or [-1], dtype=np.int64)
        wanted = key(codes[pool] if pool.size else pool, starts)
        at = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
        return np.where((wanted >= 0) & (keys[at] == wanted), at, -1) if keys.size else wanted

    engines, capacity, known = _engines(as_kv_columns(kv_samples), rows_of, keys.size)
    serving = np.zeros(keys.size, dtype=np.bool_)
    for u in usage:
        # not ``> 0``: Postgres orders NaN above every number, so its ``kv_token_seconds > 0`` holds for NaN
        served = np.flatnonzero(~(u.kv_token_seconds <= 0))
        row = rows_of(u.pools, u.pool[served], u.interval_start_s[served])
        serving[row[row >= 0]] = True
    return PoolIntervalColumns(
        pools=pools,
        pool=keys // width,
        start_s=times[keys % width] if keys.size else keys,
        fb_used_bytes=fb_used,
        fb_used_rows=fb_rows,
        engines=engines,
        kv_capacity_tokens=capacity,
        kv_capacity_known=known,
        serving=serving,
    )


def _engines(
    kv: KvSampleColumns, rows_of: Callable[[list[str], I64, I64], I64], n: int
) -> tuple[I64, I64, I64]:
    """Per row: KV samples, their summed capacity (tokens), and how many reported a capacity."""
    engines, capacity, known = (np.zeros(n, dtype=np.int64) for _ in range(3))
    if len(kv) == 0 or n == 0:
        return engines, capacity, known
    row = rows_of(kv.pools, kv.pool, kv.start_s)
    mine = row >= 0
    np.add.at(engines, row[mine], 1)
    with_capacity = mine & kv.reports
    np.add.at(known, row[with_capacity], 1)
    np.add.at(capacity, row[with_capacity], kv.tokens[with_capacity])
    return engines, capacity, known
