"""``split.split_pool_interval`` for every pool-interval of a window at once, as columns.

The same hierarchy of largest-remainder splits as the reference (C to KV and static, KV to in use and
free, each component to tenants, then to their tiers), over int64 arrays: one row per pool-interval and
one entry per tenant x tier with a positive weight, entries sorted by (pool-interval, key).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attribution.model.vectorized_kernels import (
    EXACT_FLOAT_INT,
    F64,
    I64,
    Mask,
    NotVectorisableError,
    allocate_by_tenant_many,
    allocate_two,
    runs,
    segment_sum,
)
from attribution.model.vectorized_pools import POLICIES, POLICY_CODE, PoolColumns
from attribution.model.vectorized_usage import RawEntries

PROPORTIONAL, EVEN, TOKENS = (POLICY_CODE[p] for p in POLICIES)


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


def _weights_of(seconds: F64) -> I64:
    """``Usage.weight`` of every entry: round(token-seconds x 1000), floored at 0, exactly as Python does."""
    milli = np.rint(seconds * 1000.0)
    if not np.all(np.isfinite(milli)) or np.any(np.abs(milli) >= EXACT_FLOAT_INT):
        raise NotVectorisableError("token-seconds that are not finite or too large")
    return np.maximum(milli, 0.0).astype(np.int64)


def _in_use_bytes(rows: PoolColumns, capacity: I64, total_weight: I64) -> I64:
    """KV bytes in use: the reading, clamped, or an estimate from token-seconds where none was read."""
    # Python's min(1.0, max(0.0, r)) takes NaN to 0.0
    ratio = np.where(np.isnan(rows.kv_ratio), 0.0, np.clip(rows.kv_ratio, 0.0, 1.0))
    in_use: I64 = np.minimum(capacity, np.rint(ratio * capacity.astype(np.float64)).astype(np.int64))
    est = np.flatnonzero(~rows.has_ratio)
    if est.size:
        seconds, per_token = rows.seconds[est], rows.bytes_per_token[est]
        if np.any(seconds <= 0) or np.any(total_weight[est] >= EXACT_FLOAT_INT):
            raise NotVectorisableError("an estimate over a non-positive interval or huge weights")
        if np.any(np.abs(per_token) >= EXACT_FLOAT_INT):
            raise NotVectorisableError("KV bytes per token too large for exact float arithmetic")
        mean_tokens = total_weight[est].astype(np.float64) / 1000.0 / seconds.astype(np.float64)
        estimate = np.rint(mean_tokens * per_token.astype(np.float64))
        if np.any(np.abs(estimate) >= 2.0**62):
            raise NotVectorisableError("an estimated KV occupancy too large for int64")
        in_use[est] = np.minimum(capacity[est], estimate.astype(np.int64))
    return in_use


@dataclass(frozen=True, slots=True)
class Entries:
    """The usage entries with a positive weight, sorted by (row, key): what the splits read of the usage."""

    row: I64
    key: I64
    weight: I64
    tokens: I64


def entries_of(n_keys: int, recovering: Mask, given: RawEntries) -> Entries:
    """(row, key, weight, tokens) of every usage entry with a positive weight, sorted by (row, key). A
    recovering pool-interval has none (its cost is recovery, whatever the gateway reported). The caller
    drops ``given`` (every usage row: 4.3 M on a full-fleet day) before the splits run."""
    weight = _weights_of(given.kv_token_seconds)
    keep = np.flatnonzero((weight > 0) & ~recovering[given.row])
    row = given.row[keep]
    key = given.key[keep]
    composite = row * max(n_keys, 1) + key
    order = np.argsort(composite, kind="stable")
    del composite
    return Entries(row[order], key[order], weight[keep][order], given.tokens[keep][order])


def split_columns(rows: PoolColumns, tenant_of_key: I64, usage: Entries) -> SplitColumns:
    """Split every pool-interval; ``rows`` sorted by (start, pool), ``usage`` matched to them."""
    n = len(rows)
    policy, recovering = rows.policy, rows.recovering
    row, key, weight, tokens = usage.row, usage.key, usage.weight, usage.tokens
    cost = rows.cost
    memory = np.maximum(rows.memory, 1)
    raw_capacity = rows.kv_capacity
    if np.any(cost < 0) or np.any(raw_capacity < 0) or np.any(memory >= 2**62):
        raise NotVectorisableError("negative costs or capacities, or memory beyond int64 sums")
    capacity = np.minimum(raw_capacity, memory)
    keys_per_row = np.bincount(row, minlength=n).astype(np.int64)
    in_use = _in_use_bytes(rows, capacity, segment_sum(weight, keys_per_row))
    c_kv, c_static = allocate_two(cost, capacity, memory - capacity)
    c_use, c_free = allocate_two(c_kv, in_use, capacity - in_use)
    has_keys = keys_per_row > 0
    gap = ~has_keys & ~recovering & rows.engine_active()
    kv, static = _to_entries(row, key, weight, tokens, policy, tenant_of_key, c_use, c_static, has_keys)
    return SplitColumns(
        capacity=capacity,
        in_use=in_use,
        kv_in_use=np.where(recovering, 0, c_use),
        kv_free=np.where(recovering, 0, c_free),
        static=np.where(recovering, 0, c_static),
        idle=np.where(recovering, 0, c_free + np.where(has_keys | gap, 0, c_static)),
        unmeasured=np.where(recovering | has_keys, 0, c_use) + np.where(gap, c_static, 0),
        estimated=~(rows.has_ratio & rows.has_capacity),
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
