"""Tenant usage handed to the vectorised engine as columns rather than one ``Usage`` per pool-interval key.

The attribution job reads a window's usage as columns (``store/columns.py``); building a ``Usage`` object
and a dict entry per row, only for the engine to turn them back into arrays, was most of a large window's
time. With :class:`UsageColumns` the pool-intervals carry no ``usage`` and the engine takes each row's
pool-interval by a search over sorted codes. A row whose pool has no pool-interval at its start (a pool
with no sampled GPUs) carries no money, exactly as when ``build_inputs`` leaves its usage out.

Where the engine hands a window to the reference (:func:`with_usage`), the usage is put back into the
pool-intervals as the dicts the reference reads: that rare path pays for the objects, never the usual one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attribution.model.split import LineKey, PoolInterval, Usage
from attribution.model.vectorized_kernels import F64, I64


@dataclass(frozen=True, slots=True)
class UsageColumns:
    """Usage rows sorted by (interval start, pool, tenant, tier); row i is pool ``pools[pool[i]]`` and
    key ``keys[key[i]]``. ``pools`` and ``keys`` are sorted, so code order is name order. At most one row
    per (interval start, pool, key), as the ``tenant_usage`` table's primary key holds."""

    interval_start_s: I64
    pool: I64
    key: I64
    pools: list[str]
    keys: list[LineKey]
    requests: I64
    prompt_tokens: I64
    generation_tokens: I64
    kv_token_seconds: F64

    def __len__(self) -> int:
        return int(self.interval_start_s.size)


def empty_usage() -> UsageColumns:
    none_i, none_f = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return UsageColumns(none_i, none_i, none_i, [], [], none_i, none_i, none_i, none_f)


@dataclass(frozen=True, slots=True)
class RawEntries:
    """Usage rows matched to pool-intervals: ``row`` indexes the (sorted) pool-intervals, ``key`` the
    engine's key codes; every row, weights not yet taken (zero weights are dropped by the split)."""

    row: I64
    key: I64
    kv_token_seconds: F64
    tokens: I64


def match_rows(
    usage: UsageColumns,
    row_start_s: I64,
    row_pool: I64,
    pool_index: Mapping[str, int],
    key_index: Mapping[LineKey, int],
) -> RawEntries:
    """Each usage row's pool-interval among ``row_start_s``/``row_pool`` (sorted by (start, pool code),
    unique), by code; rows without one are left out."""
    n_pools = max(len(pool_index), 1)
    pool_of = np.array([pool_index.get(name, -1) for name in usage.pools] or [-1], dtype=np.int64)
    key_of = np.array([key_index[k] for k in usage.keys] or [0], dtype=np.int64)
    pool = pool_of[usage.pool]
    row_code = row_start_s * n_pools + row_pool
    code = usage.interval_start_s * n_pools + pool
    at = np.searchsorted(row_code, code)
    found = (pool >= 0) & (at < row_code.size)
    found[found] = row_code[at[found]] == code[found]
    return RawEntries(
        row=at[found],
        key=key_of[usage.key[found]],
        kv_token_seconds=usage.kv_token_seconds[found],
        tokens=usage.prompt_tokens[found] + usage.generation_tokens[found],
    )


def with_usage(pis: Sequence[PoolInterval], usage: UsageColumns) -> list[PoolInterval]:
    """The pool-intervals with their usage as the reference reads it (``PoolInterval.usage`` dicts)."""
    by_pool_interval: dict[tuple[int, str], dict[LineKey, Usage]] = {}
    columns = zip(
        usage.interval_start_s.tolist(),
        usage.pool.tolist(),
        usage.key.tolist(),
        usage.kv_token_seconds.tolist(),
        usage.requests.tolist(),
        usage.prompt_tokens.tolist(),
        usage.generation_tokens.tolist(),
        strict=True,
    )
    for ts, pool, key, seconds, requests, prompt, generation in columns:
        cell = by_pool_interval.setdefault((ts, usage.pools[pool]), {})
        cell[usage.keys[key]] = Usage(seconds, requests, prompt, generation)
    return [
        dataclasses.replace(p, usage={**p.usage, **by_pool_interval.get((p.interval_start_s, p.pool), {})})
        for p in pis
    ]
