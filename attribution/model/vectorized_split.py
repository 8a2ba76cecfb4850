"""``split.split_pool_interval`` for every pool-interval of a window at once, as columns.

The same hierarchy of largest-remainder splits as the reference (C to KV and static, KV to in use and
free, each component to tenants, then to their tiers), over int64 arrays: one row per pool-interval and
one entry per tenant x tier with a positive weight, entries sorted by (pool-interval, key).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import assert_never

import numpy as np
import numpy.typing as npt

from attribution.model.split import LineKey, PoolInterval, Usage
from attribution.model.vectorized_kernels import (
    I64,
    Mask,
    NotVectorisableError,
    allocate_by_tenant_many,
    allocate_two,
    as_int64,
    group_of,
    runs,
    segment_sum,
)
from attribution.model.vectorized_usage import RawEntries
from attribution.model.vocabulary import FixedPolicy

F64 = npt.NDArray[np.float64]
EXACT_FLOAT_INT = 2.0**53
"""Below this, int and float arithmetic agree exactly, so numpy's float steps equal Python's."""

PROPORTIONAL, EVEN, TOKENS = 0, 1, 2


def _policy_code(policy: FixedPolicy) -> int:
    """The fixed policy as a column code; exhaustive, so a new policy fails the type check here."""
    match policy:
        case FixedPolicy.PROPORTIONAL:
            return PROPORTIONAL
        case FixedPolicy.EVEN:
            return EVEN
        case FixedPolicy.TOKENS:
            return TOKENS
        case _:
            assert_never(policy)


_POLICY_CODES = {policy: _policy_code(policy) for policy in FixedPolicy}


@dataclass(slots=True)
class SplitColumns:
    """Per pool-interval (``rows``, in (start, pool) order) and per line entry (sorted by row, key)."""

    capacity: I64
    in_use: I64
    kv_in_use: I64
    kv_free: I64
    static: I64
    idle: I64
    unmeasured: I64
    estimated: Mask
    gap: Mask
    warm: Mask
    """Nobody used the interval (no tenant, no gap): its idle is ``idle_warm``, else ``kv_headroom``."""
    recovery: I64
    """The whole cost of a recovering pool-interval (``PoolInterval.recovering``), else 0."""
    entry_row: I64
    entry_key: I64
    entry_kv: I64
    entry_static: I64


def _weights(usages: Sequence[Usage]) -> I64:
    """``Usage.weight`` of every entry: round(token-seconds x 1000), floored at 0, exactly as Python does."""
    try:
        seconds = np.fromiter((u.kv_token_seconds for u in usages), np.float64, len(usages))
    except (TypeError, ValueError, OverflowError) as exc:
        raise NotVectorisableError("token-seconds that are not numbers") from exc
    return _weights_of(seconds)


def _weights_of(seconds: F64) -> I64:
    """``_weights`` of token-seconds already in a float64 column."""
    milli = np.rint(seconds * 1000.0)
    if not np.all(np.isfinite(milli)) or np.any(np.abs(milli) >= EXACT_FLOAT_INT):
        raise NotVectorisableError("token-seconds that are not finite or too large")
    return np.maximum(milli, 0.0).astype(np.int64)


def _tokens(usages: Sequence[Usage]) -> I64:
    return as_int64([u.prompt_tokens + u.generation_tokens for u in usages])


def _in_use_bytes(pis: Sequence[PoolInterval], capacity: I64, total_weight: I64) -> tuple[I64, Mask]:
    """KV bytes in use (the reading, clamped, or an estimate from token-seconds) and where it is read."""
    has_ratio = np.fromiter((p.kv_usage_ratio is not None for p in pis), np.bool_, len(pis))
    ratio = np.fromiter(
        (math.nan if p.kv_usage_ratio is None else p.kv_usage_ratio for p in pis), np.float64, len(pis)
    )
    # Python's min(1.0, max(0.0, r)) takes NaN to 0.0
    ratio = np.where(np.isnan(ratio), 0.0, np.clip(ratio, 0.0, 1.0))
    in_use = np.minimum(capacity, np.rint(ratio * capacity.astype(np.float64)).astype(np.int64))
    est = np.flatnonzero(~has_ratio)
    if est.size:
        seconds = as_int64([pis[i].interval_seconds for i in est.tolist()])
        per_token = as_int64([pis[i].kv_bytes_per_token for i in est.tolist()])
        if np.any(seconds <= 0) or np.any(total_weight[est] >= EXACT_FLOAT_INT):
            raise NotVectorisableError("an estimate over a non-positive interval or huge weights")
        if np.any(np.abs(per_token) >= EXACT_FLOAT_INT):
            raise NotVectorisableError("KV bytes per token too large for exact float arithmetic")
        mean_tokens = total_weight[est].astype(np.float64) / 1000.0 / seconds.astype(np.float64)
        estimate = np.rint(mean_tokens * per_token.astype(np.float64))
        if np.any(np.abs(estimate) >= 2.0**62):
            raise NotVectorisableError("an estimated KV occupancy too large for int64")
        in_use[est] = np.minimum(capacity[est], estimate.astype(np.int64))
    return in_use, has_ratio


def _entries(
    pis: Sequence[PoolInterval],
    key_index: Mapping[LineKey, int],
    need_tokens: bool,
    recovering: Mask,
    given: RawEntries | None = None,
) -> tuple[I64, I64, I64, I64]:
    """(row, key, weight, tokens) of every usage entry with a positive weight, sorted by (row, key):
    from the pool-intervals' ``usage``, or from ``given`` columns (``vectorized_usage``). A recovering
    pool-interval has none (its cost is recovery, whatever the gateway reported)."""
    if given is None:
        keys: list[LineKey] = []
        usages: list[Usage] = []
        for p in pis:
            keys.extend(p.usage)
            usages.extend(p.usage.values())
        counts = as_int64([len(p.usage) for p in pis])
        all_key = np.fromiter(map(key_index.__getitem__, keys), np.int64, len(keys))
        weight = _weights(usages)
        tokens = _tokens(usages) if need_tokens else np.zeros(len(usages), dtype=np.int64)
        all_row = group_of(counts)
    else:
        all_row, all_key, weight, tokens = (
            given.row,
            given.key,
            _weights_of(given.kv_token_seconds),
            given.tokens,
        )
    keep = np.flatnonzero((weight > 0) & ~recovering[all_row])
    row = all_row[keep]
    key = all_key[keep]
    composite = row * max(len(key_index), 1) + key
    order = np.argsort(composite, kind="stable")
    return row[order], key[order], weight[keep][order], tokens[keep][order]


def split_columns(
    pis: Sequence[PoolInterval],
    key_index: Mapping[LineKey, int],
    tenant_of_key: I64,
    usage: RawEntries | None = None,
) -> SplitColumns:
    """Split every pool-interval; rows as in ``pis``, which the caller has sorted by (start, pool).
    ``usage``: their usage as columns, where the pool-intervals carry none."""
    n = len(pis)
    policy = as_int64([_POLICY_CODES[p.fixed_policy] for p in pis])
    recovering = np.fromiter((p.recovering for p in pis), np.bool_, n)
    need_tokens = bool(np.any(policy == TOKENS))
    row, key, weight, tokens = _entries(pis, key_index, need_tokens, recovering, usage)
    cost = as_int64([p.cost_usd_micros for p in pis])
    memory = np.maximum(as_int64([p.memory_bytes for p in pis]), 1)
    raw_capacity = as_int64([p.kv_capacity_bytes or 0 for p in pis])
    if np.any(cost < 0) or np.any(raw_capacity < 0) or np.any(memory >= 2**62):
        raise NotVectorisableError("negative costs or capacities, or memory beyond int64 sums")
    capacity = np.minimum(raw_capacity, memory)
    keys_per_row = np.bincount(row, minlength=n).astype(np.int64)
    in_use, has_ratio = _in_use_bytes(pis, capacity, segment_sum(weight, keys_per_row))
    has_capacity = np.fromiter((p.kv_capacity_bytes is not None for p in pis), np.bool_, n)
    c_kv, c_static = allocate_two(cost, capacity, memory - capacity)
    c_use, c_free = allocate_two(c_kv, in_use, capacity - in_use)
    has_keys = keys_per_row > 0
    gap = ~has_keys & ~recovering & np.fromiter((p.engine_active for p in pis), np.bool_, n)
    kv, static = _to_entries(row, key, weight, tokens, policy, tenant_of_key, c_use, c_static, has_keys)
    return SplitColumns(
        capacity=capacity,
        in_use=in_use,
        kv_in_use=np.where(recovering, 0, c_use),
        kv_free=np.where(recovering, 0, c_free),
        static=np.where(recovering, 0, c_static),
        idle=np.where(recovering, 0, c_free + np.where(has_keys | gap, 0, c_static)),
        unmeasured=np.where(recovering | has_keys, 0, c_use) + np.where(gap, c_static, 0),
        estimated=~(has_ratio & has_capacity),
        gap=gap,
        warm=~(has_keys | gap | recovering),
        recovery=np.where(recovering, cost, 0),
        entry_row=row,
        entry_key=key,
        entry_kv=kv,
        entry_static=static,
    )


def _to_entries(
    row: I64,
    key: I64,
    weight: I64,
    tokens: I64,
    policy: I64,
    tenant_of_key: I64,
    c_use: I64,
    c_static: I64,
    has_keys: Mask,
) -> tuple[I64, I64]:
    """KV in use by token-seconds, static by the fixed policy (``_allocate_fixed``): tenants, then tiers."""
    tenant = tenant_of_key[key]
    seg_start, seg_len = runs(row * (int(tenant_of_key.max(initial=0)) + 1) + tenant)
    seg_row = row[seg_start]
    tenants_per_row = np.bincount(seg_row, minlength=has_keys.size).astype(np.int64)[has_keys]
    kv = allocate_by_tenant_many(
        c_use[has_keys], tenants_per_row, segment_sum(weight, seg_len), seg_len, weight
    )
    token_rows = policy == TOKENS
    if np.any(token_rows):
        if np.any(token_rows[row] & (tokens < 0)):
            raise NotVectorisableError("negative token counts under the tokens policy")
        # tokens only where the pool-interval's keys processed any; token-seconds otherwise
        token_rows &= segment_sum(tokens, np.bincount(row, minlength=policy.size).astype(np.int64)) > 0
    static_weight = np.where(token_rows[row], tokens, weight)
    tenant_weight = np.where(policy[seg_row] == EVEN, 1, segment_sum(static_weight, seg_len))
    static = allocate_by_tenant_many(
        c_static[has_keys], tenants_per_row, tenant_weight, seg_len, static_weight
    )
    return kv, static
