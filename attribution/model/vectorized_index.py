"""Integer codes for the vectorised engine: pools, keys, interval starts, settlement windows, periods.

Names and keys become codes in sorted order, so code order is the reference engine's sort order, and every
later step (splits, settlement, lines) works on int64 columns of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attribution.model.attribute import ClusterInterval, PeriodScope, Policies
from attribution.model.split import LineKey
from attribution.model.vectorized_kernels import I64, NotVectorisableError, as_int64
from attribution.model.vectorized_pools import PoolColumns
from attribution.model.vectorized_usage import UsageColumns
from attribution.model.vocabulary import (
    CLUSTER_POOL,
    IDLE,
    NO_TIER,
    OVERHEAD_POOL,
    RECOVERY,
    UNALLOCATED_POOL,
    UNMEASURED,
)


@dataclass(slots=True)
class Index:
    """Integer codes: pools and keys in sorted order (so code order is the reference's sort order),
    interval starts, and each start's settlement window and period."""

    rows: PoolColumns
    """The pool-intervals, sorted by (start, pool); their ``pool`` codes are those of ``pools``."""
    pools: list[str]
    pool_index: dict[str, int]
    keys: list[LineKey]
    key_index: dict[LineKey, int]
    tenant_of_key: I64
    starts: I64
    row_start: I64
    row_pool: I64
    window: I64
    period: I64
    period_index: dict[str, int]
    n_windows: int


def build_index(
    pool_columns: PoolColumns,
    cis: Sequence[ClusterInterval],
    policies: Policies,
    scope: PeriodScope,
    usage: UsageColumns,
) -> Index:
    """The codes of a window; ``usage``: its tenant usage as columns, whose keys are coded too."""
    names = set(pool_columns.pools) | {UNALLOCATED_POOL, OVERHEAD_POOL, CLUSTER_POOL}
    names.update(pool for pools in scope.outside.values() for pool in pools)
    pools = sorted(names)
    pool_index = {name: i for i, name in enumerate(pools)}
    recode = np.array([pool_index[name] for name in pool_columns.pools] or [0], dtype=np.int64)
    row_pool = recode[pool_columns.pool]
    row_start_s = pool_columns.start
    order = np.lexsort((row_pool, row_start_s))
    row_pool, row_start_s = row_pool[order], row_start_s[order]
    if np.any((row_pool[1:] == row_pool[:-1]) & (row_start_s[1:] == row_start_s[:-1])):
        raise NotVectorisableError("two pool-intervals of the same pool and start")
    rows = pool_columns.take(order)
    rows.pools, rows.pool = pools, row_pool
    key_set: set[LineKey] = {(IDLE, NO_TIER), (UNMEASURED, NO_TIER), (RECOVERY, NO_TIER)}
    key_set.update(usage.keys)
    for by_pool in scope.outside.values():
        for weights in by_pool.values():
            key_set.update(weights)
    for reservations in policies.reservations_by_pool.values():
        key_set.update((r.tenant, NO_TIER) for r in reservations)
    keys = sorted(key_set)
    tenant_names = [k[0] for k in keys]
    tenant_of_key = np.cumsum([i > 0 and t != tenant_names[i - 1] for i, t in enumerate(tenant_names)])
    starts = np.unique(np.r_[row_start_s, as_int64([c.interval_start_s for c in cis])])
    period_names = [scope.period_of(s) for s in starts.tolist()]
    period_index: dict[str, int] = {}
    for name in [*period_names, *scope.outside]:
        period_index.setdefault(name, len(period_index))
    period = as_int64([period_index[name] for name in period_names])
    window, n_windows = _windows(starts, period, len(period_index), policies.settlement_window_seconds)
    return Index(
        rows=rows,
        pools=pools,
        pool_index=pool_index,
        keys=keys,
        key_index={k: i for i, k in enumerate(keys)},
        tenant_of_key=tenant_of_key.astype(np.int64),
        starts=starts,
        row_start=np.searchsorted(starts, row_start_s).astype(np.int64),
        row_pool=row_pool,
        window=window,
        period=period,
        period_index=period_index,
        n_windows=n_windows,
    )


def _windows(starts: I64, period: I64, n_periods: int, window_seconds: int | None) -> tuple[I64, int]:
    """Each start's settlement window code: its multiple of the window length, or its period."""
    if window_seconds is None:
        return period, n_periods
    if window_seconds == 0:
        raise NotVectorisableError("a settlement window of zero seconds")
    _, window = np.unique(starts // as_int64([window_seconds]), return_inverse=True)
    return window.astype(np.int64), int(window.max(initial=-1)) + 1


def key_column(ix: Index, tenant: str, n: int) -> I64:
    """``n`` copies of the code of the tenant's ``NO_TIER`` key (``__idle__``, ``__unmeasured__``...)."""
    return np.full(n, ix.key_index[(tenant, NO_TIER)], dtype=np.int64)
