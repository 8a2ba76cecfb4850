"""Stored line rows from the model's line columns: each line summed over its grain (an hour by default).

A month of a mid-sized cluster is millions of interval lines and some ten thousand hourly ones, so the
money is summed with numpy over the columns, never one Python object per interval line. Money sums are
integers, exact in any order. Token-seconds come from the gateway's usage rows and are summed with
``math.fsum`` per line: correctly rounded, so the stored figure does not depend on the order rows arrived in.
Usage comes as columns too (``model/vectorized_usage.py``), grouped the same way as the money.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from itertools import pairwise
from typing import Any

import numpy as np

from attribution.ledger.inputs import interval_start
from attribution.model.split import PoolSplit
from attribution.model.vectorized_lines import LineColumns
from attribution.model.vectorized_usage import UsageColumns
from attribution.model.vocabulary import IDLE_KINDS, RECOVERY_COMPONENT

SUMMED = ("kv_in_use", "static", *IDLE_KINDS, "unmeasured", RECOVERY_COMPONENT)
"""The line columns summed within a grain; a row's idle is the sum of its three kinds."""
Money = tuple[int, int, int, int, int, int, int]
"""(KV in use, static, idle cold, idle warm, KV headroom, unmeasured, recovery) in micro-USD"""
GrainKey = tuple[int, str, str, str]
"""(grain start in Unix seconds, pool, tenant, tier)"""


def _money_by_grain(
    columns: LineColumns, estimated: set[tuple[int, str]], grain_seconds: int
) -> dict[GrainKey, tuple[Money, bool]]:
    """Each line's components (``SUMMED``) summed within its grain, and whether any of its intervals was
    estimated."""
    n = len(columns.interval_start_s)
    if n == 0:
        return {}
    grain = columns.interval_start_s - columns.interval_start_s % grain_seconds
    order = np.lexsort((columns.key, columns.pool, grain))
    g, p, k = grain[order], columns.pool[order], columns.key[order]
    boundary = np.ones(n, dtype=bool)
    boundary[1:] = (g[1:] != g[:-1]) | (p[1:] != p[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(boundary)
    sums = [np.add.reduceat(getattr(columns, c)[order], starts).tolist() for c in SUMMED]
    flagged = np.zeros(n, dtype=bool)
    if estimated:
        pool_code = {name: i for i, name in enumerate(columns.pools)}
        codes = np.array(
            [ts * len(columns.pools) + pool_code[pool] for ts, pool in estimated if pool in pool_code],
            dtype=np.int64,
        )
        line_codes = columns.interval_start_s[order] * len(columns.pools) + p
        flagged = np.isin(line_codes, codes)
    any_flag = np.logical_or.reduceat(flagged, starts)
    out: dict[GrainKey, tuple[Money, bool]] = {}
    pools, keys = columns.pools, columns.keys
    for i, start in enumerate(starts.tolist()):
        tenant, tier = keys[int(k[start])]
        kv, static, cold, warm, headroom, unmeasured, recovery = (int(s[i]) for s in sums)
        out[(int(g[start]), pools[int(p[start])], tenant, tier)] = (
            (kv, static, cold, warm, headroom, unmeasured, recovery),
            bool(any_flag[i]),
        )
    return out


def _usage_by_grain(
    usage: UsageColumns,
    estimated: set[tuple[int, str]],
    grain_seconds: int,
    usage_estimated: AbstractSet[int],
) -> dict[GrainKey, tuple[float, int, int, int, bool]]:
    """Usage summed within each (grain, pool, tenant, tier): counts with numpy (integers, exact),
    token-seconds
    with ``math.fsum`` per group (correctly rounded: the order rows arrived in moves no bit)."""
    n = len(usage)
    if n == 0:
        return {}
    ts = usage.interval_start_s
    grain = ts - ts % grain_seconds
    order = np.lexsort((usage.key, usage.pool, grain))
    g, p, k = grain[order], usage.pool[order], usage.key[order]
    boundary = np.ones(n, dtype=bool)
    boundary[1:] = (g[1:] != g[:-1]) | (p[1:] != p[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(boundary)
    counts = [
        np.add.reduceat(c[order], starts).tolist()
        for c in (usage.requests, usage.prompt_tokens, usage.generation_tokens)
    ]
    flagged = np.zeros(n, dtype=bool)
    if usage_estimated:
        flagged |= np.isin(ts[order], np.array(sorted(usage_estimated), dtype=np.int64))
    if estimated:
        pool_code = {name: i for i, name in enumerate(usage.pools)}
        n_pools = len(usage.pools)
        codes = [t * n_pools + pool_code[pool] for t, pool in estimated if pool in pool_code]
        flagged |= np.isin(ts[order] * n_pools + p, np.array(codes, dtype=np.int64))
    any_flag = np.logical_or.reduceat(flagged, starts).tolist()
    seconds = usage.kv_token_seconds[order].tolist()
    bounds = [*starts.tolist(), n]
    out: dict[GrainKey, tuple[float, int, int, int, bool]] = {}
    for i, (lo, hi) in enumerate(pairwise(bounds)):
        tenant, tier = usage.keys[int(k[lo])]
        out[(int(g[lo]), usage.pools[int(p[lo])], tenant, tier)] = (
            _normal(math.fsum(seconds[lo:hi])),
            counts[0][i],
            counts[1][i],
            counts[2][i],
            any_flag[i],
        )
    return out


def _normal(seconds: float) -> float:
    """``seconds``, or 0.0 where it is subnormal (below 2.2e-308 token-seconds: no physical amount). A
    stored subnormal breaks the analyst views: Postgres raises "value out of range: underflow" where
    a float division rounds to zero, as ``kv_byte_seconds / <bytes in a GiB-hour>`` does for one."""
    return 0.0 if abs(seconds) < sys.float_info.min else seconds


def line_rows(
    columns: LineColumns,
    splits: Iterable[PoolSplit],
    usage: UsageColumns,
    bytes_per_token: Mapping[str, int],
    grain_seconds: int,
    usage_estimated: AbstractSet[int] = frozenset(),
) -> list[dict[str, Any]]:
    """One row per (grain, pool, tenant, tier), in key order. Usage with no cost (a pool with no sampled
    GPUs) still gets a zero-cost row; a row is estimated if any of its intervals' pool-interval was, or if
    it has usage in an interval of ``usage_estimated`` (Unix seconds: usage spread over a gateway gap)."""
    estimated = {(s.interval_start_s, s.pool) for s in splits if s.estimated}
    money = _money_by_grain(columns, estimated, grain_seconds)
    by_grain = _usage_by_grain(usage, estimated, grain_seconds, usage_estimated)
    rows = []
    for key in sorted(money.keys() | by_grain.keys()):
        start_s, pool, tenant, tier = key
        (kv, static, cold, warm, headroom, unmeasured, recovery), money_flag = money.get(
            key, ((0,) * 7, False)
        )
        idle = cold + warm + headroom
        token_seconds, requests, prompt, generation, usage_flag = by_grain.get(key, (0.0, 0, 0, 0, False))
        rows.append(
            {
                "interval_start": interval_start(start_s),
                "pool": pool,
                "tenant": tenant,
                "tier": tier,
                "kv_in_use_usd_micros": kv,
                "static_usd_micros": static,
                "idle_usd_micros": idle,
                "idle_cold_usd_micros": cold,
                "idle_warm_usd_micros": warm,
                "kv_headroom_usd_micros": headroom,
                "unmeasured_usd_micros": unmeasured,
                "recovery_usd_micros": recovery,
                "total_usd_micros": kv + static + idle + unmeasured + recovery,
                "kv_token_seconds": token_seconds,
                "kv_byte_seconds": token_seconds * bytes_per_token.get(pool, 0),
                "requests": requests,
                "prompt_tokens": prompt,
                "generation_tokens": generation,
                "estimated": money_flag or usage_flag,
            }
        )
    return rows


def total_usd_micros(columns: LineColumns) -> int:
    return sum(int(getattr(columns, c).sum(dtype=np.int64)) for c in SUMMED)
