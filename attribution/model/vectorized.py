"""``attribute_window`` computed with numpy over all pool-intervals at once, with exactly its output.

A month of a mid-sized cluster is some millions of lines; the reference engine splits them one
pool-interval at a time in Python. This engine does the same splits as columns of int64 (names and keys
become integer codes, groups are runs of sorted codes, largest remainder is one sort per level) and
returns the same ``Attribution``: the same lines, to the micro-dollar, ties included.

``splits`` carry every pool-level figure of the reference; their ``lines`` are left empty unless
``split_lines`` is set (the job reads only the pool-level figures, and filling them costs a second copy
of every line). Whatever falls outside the engine's exact domain (non-finite token-seconds, negative
money, duplicate pool-intervals, amounts whose sums could overflow int64...) is handed to the reference
engine for the whole call, which then decides, or raises what it raises: never a wrong number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from attribution.model.attribute import (
    WHOLE_WINDOW,
    Attribution,
    ClusterInterval,
    PeriodScope,
    Policies,
    attribute_window,
)
from attribution.model.gcpause import gc_paused
from attribution.model.split import PoolInterval, PoolSplit
from attribution.model.vectorized_idle import Cluster, idle_rows, settle
from attribution.model.vectorized_index import Index, build_index, key_column
from attribution.model.vectorized_kernels import NotVectorisableError, as_int64, check_sum_fits
from attribution.model.vectorized_lines import Contributions, LineColumns
from attribution.model.vectorized_pools import PoolColumns, PoolResults, fill_lines, usage_of
from attribution.model.vectorized_settle import Lines, ScopeSpace
from attribution.model.vectorized_split import SplitColumns, entries_of, split_columns
from attribution.model.vectorized_usage import UsageColumns, match_rows, with_usage
from attribution.model.vocabulary import CLUSTER_POOL, UNMEASURED


def attribute_window_vectorized(
    pool_intervals: Iterable[PoolInterval],
    cluster_intervals: Iterable[ClusterInterval],
    policies: Policies,
    scope: PeriodScope = WHOLE_WINDOW,
    *,
    split_lines: bool = False,
    fallback: bool = True,
) -> Attribution:
    """What ``attribute_window`` returns for the same arguments, computed over columns.

    ``fallback=False`` raises ``NotVectorisableError`` instead of handing an input outside the exact
    domain to the reference engine (the tests use it to prove the vectorised path ran).
    """
    pis = list(pool_intervals)
    cis = list(cluster_intervals)
    try:
        with gc_paused():
            rows, usage = PoolColumns.from_objects(pis), usage_of(pis)
            ix, columns, cols = _attribute(rows, cis, policies, scope, usage, keep_entries=split_lines)
            splits = _results(ix, cols).to_splits()
            if split_lines:
                fill_lines(splits, ix.keys, cols.entry_row, cols.entry_key, cols.entry_kv, cols.entry_static)
            return Attribution(splits=splits, lines=columns.to_dict())
    except NotVectorisableError:
        if not fallback:
            raise
    return attribute_window(pis, cis, policies, scope)


def attribute_window_columns(
    pool_intervals: Iterable[PoolInterval],
    cluster_intervals: Iterable[ClusterInterval],
    policies: Policies,
    scope: PeriodScope = WHOLE_WINDOW,
    usage: UsageColumns | None = None,
) -> tuple[LineColumns, list[PoolSplit]]:
    """The same lines as columns (and the splits, without their ``lines``), for callers that aggregate
    them further: no Python object per line. Falls back to the reference engine like the above.

    ``usage``: the window's tenant usage as columns, added to the pool-intervals' own (``usage`` empty
    where the caller reads columns): what ``attribute_window`` returns for ``with_usage(pis, usage)``."""
    pis = list(pool_intervals) if usage is None else with_usage(list(pool_intervals), usage)
    cis = list(cluster_intervals)
    try:
        with gc_paused():
            ix, columns, cols = _attribute(PoolColumns.from_objects(pis), cis, policies, scope, usage_of(pis))
            return columns, _results(ix, cols).to_splits()
    except NotVectorisableError:
        result = attribute_window(pis, cis, policies, scope)
    for s in result.splits:
        s.lines = {}
    return LineColumns.from_lines(result.lines), result.splits


def attribute_columns(
    pool_columns: PoolColumns,
    cluster_intervals: Iterable[ClusterInterval],
    policies: Policies,
    scope: PeriodScope,
    usage: UsageColumns,
) -> tuple[LineColumns, PoolResults]:
    """The lines and the pool-level splits of a window, all as columns: no Python object per line or per
    pool-interval. Whatever falls outside the exact domain is handed, as objects, to the reference."""
    cis = list(cluster_intervals)
    try:
        with gc_paused():
            ix, columns, cols = _attribute(pool_columns, cis, policies, scope, usage)
            return columns, _results(ix, cols)
    except NotVectorisableError:
        pis = with_usage(pool_columns.to_objects(), usage)
    result = attribute_window(pis, cis, policies, scope)
    return LineColumns.from_lines(result.lines), PoolResults.from_splits(result.splits)


def _results(ix: Index, cols: SplitColumns) -> PoolResults:
    rows = ix.rows
    return PoolResults(
        pools=ix.pools,
        start=rows.start,
        pool=rows.pool,
        cost=rows.cost,
        memory=rows.memory,
        capacity=cols.capacity,
        in_use=cols.in_use,
        kv_in_use=cols.kv_in_use,
        kv_free=cols.kv_free,
        static=cols.static,
        idle=cols.idle,
        unmeasured=cols.unmeasured,
        recovery=cols.recovery,
        estimated=cols.estimated,
        gap=cols.gap,
        warm=cols.warm,
    )


def _attribute(
    pool_columns: PoolColumns,
    cis: list[ClusterInterval],
    policies: Policies,
    scope: PeriodScope,
    usage: UsageColumns,
    *,
    keep_entries: bool = False,
) -> tuple[Index, LineColumns, SplitColumns]:
    """The window's codes, lines and splits; the splits' entries (``entry_*``) are emptied unless
    ``keep_entries`` (only ``split_lines`` reads them)."""
    ix = build_index(pool_columns, cis, policies, scope, usage)
    space = ScopeSpace(len(ix.pools), ix.n_windows, len(ix.period_index), len(ix.keys))
    if len(ix.starts) * space.n_pools * space.n_keys >= 2**62:
        raise NotVectorisableError("too many lines for int64 line ids")
    matched = match_rows(usage, ix.starts[ix.row_start], ix.row_pool, ix.pool_index, ix.key_index)
    entries = entries_of(len(ix.keys), ix.rows.recovering, matched)
    del matched  # every usage row: the entries are the ones with a weight, all the splits read
    cols = split_columns(ix.rows, ix.tenant_of_key, entries)
    del entries
    out = Contributions(len(ix.starts), space.n_pools, space.n_keys)
    rows = cols.entry_row
    out.add_split_lines(
        ix.row_start[rows], ix.row_pool[rows], cols.entry_key, cols.entry_kv, cols.entry_static
    )
    rows = np.flatnonzero(cols.unmeasured)
    out.add(
        ix.row_start[rows],
        ix.row_pool[rows],
        key_column(ix, UNMEASURED, rows.size),
        "unmeasured",
        cols.unmeasured[rows],
    )
    cluster = _cluster_columns(ix, cis)
    outside = _outside(ix, scope)
    check_sum_fits(np.concatenate([ix.rows.cost, *cluster[1:], outside.amount]))
    amounts = idle_rows(ix, cols, cluster, policies, out)
    settle(ix, space, cols, outside, amounts, out)
    start, _, _, unmeasured = cluster
    rows = np.flatnonzero(unmeasured)
    pool = np.full(rows.size, ix.pool_index[CLUSTER_POOL], dtype=np.int64)
    out.add(start[rows], pool, key_column(ix, UNMEASURED, rows.size), "unmeasured", unmeasured[rows])
    if not keep_entries:  # a full-fleet day's 4 M entries (130 MiB) are not kept through the lines' build
        cols.entry_row = cols.entry_key = cols.entry_kv = cols.entry_static = np.zeros(0, dtype=np.int64)
    return ix, LineColumns.from_totals(out, ix.starts, ix.pools, ix.keys), cols


def _cluster_columns(ix: Index, cis: Sequence[ClusterInterval]) -> Cluster:
    start = np.searchsorted(ix.starts, as_int64([c.interval_start_s for c in cis])).astype(np.int64)
    unallocated = as_int64([c.unallocated_usd_micros for c in cis])
    overhead = as_int64([c.overhead_usd_micros for c in cis])
    unmeasured = as_int64([c.unmeasured_usd_micros for c in cis])
    if np.any(unallocated < 0) or np.any(overhead < 0) or np.any(unmeasured < 0):
        raise NotVectorisableError("negative cluster amounts")
    return start, unallocated, overhead, unmeasured


def _outside(ix: Index, scope: PeriodScope) -> Lines:
    """The stored non-idle weights of the periods' other intervals (``PeriodScope.outside``)."""
    pools: list[int] = []
    periods: list[int] = []
    keys: list[int] = []
    amounts: list[int] = []
    for period, by_pool in scope.outside.items():
        for pool, weights in by_pool.items():
            for key, amount in weights.items():
                if amount:
                    pools.append(ix.pool_index[pool])
                    periods.append(ix.period_index[period])
                    keys.append(ix.key_index[key])
                    amounts.append(amount)
    amount_array = as_int64(amounts)
    if np.any(amount_array < 0):
        raise NotVectorisableError("negative stored weights")
    return Lines(
        as_int64(pools), np.zeros(len(pools), dtype=np.int64), as_int64(periods), as_int64(keys), amount_array
    )
