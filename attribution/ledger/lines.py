"""Stored line rows from the model's line columns: each line summed over its grain (an hour by default).

A month of a mid-sized cluster is millions of interval lines and some ten thousand hourly ones, so the
money is summed with numpy over the columns, never one Python object per interval line. Money sums are
integers, exact in any order. Token-seconds come from the gateway's usage rows and are summed with
``math.fsum``: correctly rounded, so the stored figure does not depend on the order rows arrived in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from attribution.ledger.inputs import IntervalTelemetry, interval_start
from attribution.model.split import PoolSplit
from attribution.model.vectorized_lines import LineColumns
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
    telemetry: Mapping[int, IntervalTelemetry],
    estimated: set[tuple[int, str]],
    grain_seconds: int,
    usage_estimated: AbstractSet[int],
) -> dict[GrainKey, tuple[float, int, int, int, bool]]:
    parts: dict[GrainKey, tuple[list[float], list[int], list[bool]]] = {}
    for ts, tel in telemetry.items():
        grain = ts - ts % grain_seconds
        for pool, by_key in tel.usage.items():
            flag = (ts, pool) in estimated or ts in usage_estimated
            for (tenant, tier), use in by_key.items():
                key = (grain, pool, tenant, tier)
                part = parts.get(key)
                if part is None:
                    part = parts[key] = ([], [0, 0, 0], [False])
                part[0].append(use.kv_token_seconds)
                counts = part[1]
                counts[0] += use.requests
                counts[1] += use.prompt_tokens
                counts[2] += use.generation_tokens
                if flag:
                    part[2][0] = True
    return {k: (math.fsum(ts), c[0], c[1], c[2], f[0]) for k, (ts, c, f) in parts.items()}


def line_rows(
    columns: LineColumns,
    splits: Iterable[PoolSplit],
    telemetry: Mapping[int, IntervalTelemetry],
    bytes_per_token: Mapping[str, int],
    grain_seconds: int,
    usage_estimated: AbstractSet[int] = frozenset(),
) -> list[dict[str, Any]]:
    """One row per (grain, pool, tenant, tier), in key order. Usage with no cost (a pool with no sampled
    GPUs) still gets a zero-cost row; a row is estimated if any of its intervals' pool-interval was, or if
    it has usage in an interval of ``usage_estimated`` (Unix seconds: usage spread over a gateway gap)."""
    estimated = {(s.interval_start_s, s.pool) for s in splits if s.estimated}
    money = _money_by_grain(columns, estimated, grain_seconds)
    usage = _usage_by_grain(telemetry, estimated, grain_seconds, usage_estimated)
    rows = []
    for key in sorted(money.keys() | usage.keys()):
        start_s, pool, tenant, tier = key
        (kv, static, cold, warm, headroom, unmeasured, recovery), money_flag = money.get(
            key, ((0,) * 7, False)
        )
        idle = cold + warm + headroom
        token_seconds, requests, prompt, generation, usage_flag = usage.get(key, (0.0, 0, 0, 0, False))
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
