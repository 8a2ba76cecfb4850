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

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from attribution.model.attribute import (
    WHOLE_WINDOW,
    Attribution,
    ClusterInterval,
    PeriodScope,
    Policies,
    attribute_window,
)
from attribution.model.split import LineKey, PoolInterval, PoolSplit
from attribution.model.vectorized_kernels import I64, Mask, NotVectorisableError, as_int64, check_sum_fits
from attribution.model.vectorized_lines import Contributions, LineColumns, build_splits
from attribution.model.vectorized_settle import Lines, ScopeSpace, build_scopes, reserve, share, targets
from attribution.model.vectorized_split import SplitColumns, split_columns
from attribution.model.vectorized_usage import UsageColumns, match_rows, with_usage
from attribution.model.vocabulary import (
    CLUSTER_POOL,
    IDLE,
    IDLE_KINDS,
    NO_TIER,
    OVERHEAD_POOL,
    UNALLOCATED_POOL,
    UNMEASURED,
    IdleKind,
    cluster_shares_idle,
    idle_route,
)


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
        with _gc_paused():
            columns, splits = _attribute(pis, cis, policies, scope, split_lines)
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
    pis = list(pool_intervals)
    cis = list(cluster_intervals)
    try:
        with _gc_paused():
            return _attribute(pis, cis, policies, scope, split_lines=False, usage=usage)
    except NotVectorisableError:
        if usage is not None:
            pis = with_usage(pis, usage)
        result = attribute_window(pis, cis, policies, scope)
    for s in result.splits:
        s.lines = {}
    return LineColumns.from_lines(result.lines), result.splits


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small acyclic objects are built.

    Each full collection it would trigger rescans every live object (the caller's inputs included)
    for cycles that cannot exist here; that is half the time of a large window otherwise. The pause is
    process-wide but short, and only delays collection: nothing is leaked.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(slots=True)
class Index:
    """Integer codes: pools and keys in sorted order (so code order is the reference's sort order),
    interval starts, and each start's settlement window and period."""

    pis: list[PoolInterval]
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


def _index(
    pis: list[PoolInterval],
    cis: Sequence[ClusterInterval],
    policies: Policies,
    scope: PeriodScope,
    usage: UsageColumns | None = None,
) -> Index:
    names = {p.pool for p in pis} | {UNALLOCATED_POOL, OVERHEAD_POOL, CLUSTER_POOL}
    names.update(pool for pools in scope.outside.values() for pool in pools)
    pools = sorted(names)
    pool_index = {name: i for i, name in enumerate(pools)}
    row_pool = as_int64([pool_index[p.pool] for p in pis])
    row_start_s = as_int64([p.interval_start_s for p in pis])
    order = np.lexsort((row_pool, row_start_s))
    row_pool, row_start_s = row_pool[order], row_start_s[order]
    if np.any((row_pool[1:] == row_pool[:-1]) & (row_start_s[1:] == row_start_s[:-1])):
        raise NotVectorisableError("two pool-intervals of the same pool and start")
    pis = [pis[i] for i in order.tolist()]
    key_set: set[LineKey] = {(IDLE, NO_TIER), (UNMEASURED, NO_TIER)}
    for p in pis:
        key_set.update(p.usage)
    if usage is not None:
        if any(p.usage for p in pis):
            raise NotVectorisableError("usage both in the pool-intervals and as columns")
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
        pis=pis,
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


def _attribute(
    pis: list[PoolInterval],
    cis: list[ClusterInterval],
    policies: Policies,
    scope: PeriodScope,
    split_lines: bool,
    usage: UsageColumns | None = None,
) -> tuple[LineColumns, list[PoolSplit]]:
    ix = _index(pis, cis, policies, scope, usage)
    space = ScopeSpace(len(ix.pools), ix.n_windows, len(ix.period_index), len(ix.keys))
    if len(ix.starts) * space.n_pools * space.n_keys >= 2**62:
        raise NotVectorisableError("too many lines for int64 line ids")
    entries = None
    if usage is not None:
        entries = match_rows(usage, ix.starts[ix.row_start], ix.row_pool, ix.pool_index, ix.key_index)
    cols = split_columns(ix.pis, ix.key_index, ix.tenant_of_key, entries)
    out = Contributions(space.n_pools, space.n_keys)
    rows = cols.entry_row
    out.add_split_lines(
        ix.row_start[rows], ix.row_pool[rows], cols.entry_key, cols.entry_kv, cols.entry_static
    )
    rows = np.flatnonzero(cols.unmeasured)
    out.add(
        ix.row_start[rows],
        ix.row_pool[rows],
        _key(ix, UNMEASURED, rows.size),
        "unmeasured",
        cols.unmeasured[rows],
    )
    cluster = _cluster_columns(ix, cis)
    outside = _outside(ix, scope)
    check_sum_fits(
        np.concatenate([as_int64([p.cost_usd_micros for p in ix.pis]), *cluster[1:], outside.amount])
    )
    amounts = _idle_rows(ix, cols, cluster, policies, out)
    _settle(ix, space, cols, outside, amounts, out)
    start, _, _, unmeasured = cluster
    rows = np.flatnonzero(unmeasured)
    pool = np.full(rows.size, ix.pool_index[CLUSTER_POOL], dtype=np.int64)
    out.add(start[rows], pool, _key(ix, UNMEASURED, rows.size), "unmeasured", unmeasured[rows])
    columns = LineColumns.from_totals(out, ix.starts, ix.pools, ix.keys)
    return columns, build_splits(ix.pis, cols, ix.keys if split_lines else None)


def _key(ix: Index, tenant: str, n: int) -> I64:
    return np.full(n, ix.key_index[(tenant, NO_TIER)], dtype=np.int64)


Cluster = tuple[I64, I64, I64, I64]
"""(start index, unallocated, overhead, unmeasured) per cluster interval, in micro-USD."""


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


@dataclass(slots=True)
class IdleRows:
    """Every idle amount to settle: one per pool-interval, two per cluster interval, each of one kind."""

    start: I64
    pool: I64
    amount: I64
    kind: I64
    """Index into ``IDLE_KINDS``: warm or headroom for a pool-interval, cold for cluster idle."""
    pool_chain: Mask
    cluster_chain: Mask


def _idle_rows(
    ix: Index, cols: SplitColumns, cluster: Cluster, policies: Policies, out: Contributions
) -> IdleRows:
    """Pool idle after reservations (charged here), then unallocated GPUs and overheads."""
    route = [
        idle_route(policies.idle_by_pool.get(name, policies.cluster_idle), policies.cluster_idle)
        for name in ix.pools
    ]
    cluster_share = cluster_shares_idle(policies.cluster_idle)
    pool_chain = np.array([r.pool for r in route], dtype=np.bool_)
    cluster_chain = np.array([r.cluster for r in route], dtype=np.bool_)
    amount = cols.idle.copy()
    kind = np.where(cols.warm, _KIND[IdleKind.WARM], _KIND[IdleKind.HEADROOM]).astype(np.int64)
    for code, name in enumerate(ix.pools):
        reservations = policies.reservations_by_pool.get(name, ())
        if not route[code].reserve or not reservations:
            continue
        rows = np.flatnonzero(ix.row_pool == code)
        if rows.size:
            tenants = {r.tenant: ix.key_index[(r.tenant, NO_TIER)] for r in reservations}
            left, at, key, part = reserve(ix.starts[ix.row_start[rows]], amount[rows], reservations, tenants)
            amount[rows] = left
            code_at = np.full(at.size, code, dtype=np.int64)
            _add_idle(out, ix.row_start[rows[at]], code_at, key, kind[rows[at]], part)
    start, unallocated, overhead, _ = cluster
    n = start.size
    pools = [np.full(n, ix.pool_index[name], dtype=np.int64) for name in (UNALLOCATED_POOL, OVERHEAD_POOL)]
    return IdleRows(
        start=np.concatenate([ix.row_start, start, start]),
        pool=np.concatenate([ix.row_pool, *pools]),
        amount=np.concatenate([amount, unallocated, overhead]),
        kind=np.concatenate([kind, np.full(2 * n, _KIND[IdleKind.COLD], dtype=np.int64)]),
        pool_chain=np.concatenate([pool_chain[ix.row_pool], np.zeros(2 * n, dtype=np.bool_)]),
        cluster_chain=np.concatenate([cluster_chain[ix.row_pool], np.full(2 * n, cluster_share)]),
    )


def _settle(
    ix: Index, space: ScopeSpace, cols: SplitColumns, outside: Lines, rows: IdleRows, out: Contributions
) -> None:
    """Each idle amount to the first scope of its chain with weights, or to an ``__idle__`` line."""
    non_idle = cols.entry_kv + cols.entry_static
    keep = np.flatnonzero(non_idle)
    # a gap's missing tenants weigh their non-idle cost, held by __unmeasured__ in their stead
    gaps = np.flatnonzero(cols.gap & (cols.unmeasured != 0))
    row = np.r_[cols.entry_row[keep], gaps]
    entry_start = ix.row_start[row]
    unmeasured_key = ix.key_index[(UNMEASURED, NO_TIER)]
    weights = Lines(
        ix.row_pool[row],
        ix.window[entry_start],
        ix.period[entry_start],
        np.r_[cols.entry_key[keep], np.full(gaps.size, unmeasured_key, dtype=np.int64)],
        np.r_[non_idle[keep], cols.unmeasured[gaps]],
    )
    scopes = build_scopes(space, weights, outside, ix.tenant_of_key)
    live = np.flatnonzero(rows.amount)
    start, pool = rows.start[live], rows.pool[live]
    target = targets(
        space,
        scopes,
        pool,
        ix.window[start],
        ix.period[start],
        rows.pool_chain[live],
        rows.cluster_chain[live],
    )
    kind = rows.kind[live]
    to_idle = target < 0
    idle_key = _key(ix, IDLE, int(to_idle.sum()))
    _add_idle(out, start[to_idle], pool[to_idle], idle_key, kind[to_idle], rows.amount[live][to_idle])
    shared = np.flatnonzero(~to_idle)
    at, key, part = share(rows.amount[live][shared], target[shared], scopes)
    gap = key == unmeasured_key  # the idle a gap's missing tenants would have carried is unmeasured
    row_start, row_pool, row_kind = start[shared][at], pool[shared][at], kind[shared][at]
    _add_idle(out, row_start[~gap], row_pool[~gap], key[~gap], row_kind[~gap], part[~gap])
    out.add(row_start[gap], row_pool[gap], key[gap], "unmeasured", part[gap])


_KIND = {kind: code for code, kind in enumerate(IdleKind)}


def _add_idle(out: Contributions, start: I64, pool: I64, key: I64, kind: I64, amount: I64) -> None:
    """Idle contributions, each booked as the kind of the amount it is a share of."""
    for code, name in enumerate(IDLE_KINDS):
        pick = kind == code
        if np.any(pick):
            out.add(start[pick], pool[pick], key[pick], name, amount[pick])
