"""The vectorised engine's settlement rows: every idle and recovery amount of a window, settled at once.

Each pool-interval leaves one idle amount of one kind (warm or headroom), each recovering pool-interval
one recovery amount, each cluster interval two cold amounts (unallocated GPUs, overheads). Every amount
carries its route (``Policies.pool_route``, ``cold_route``, ``recovery_route``) as two masks, pool chain
and cluster chain, and the component it is booked as wherever it lands, exactly as ``attribute._settle``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attribution.model.attribute import Policies
from attribution.model.vectorized_index import Index, key_column
from attribution.model.vectorized_kernels import I64, Mask
from attribution.model.vectorized_lines import Contributions
from attribution.model.vectorized_settle import (
    Lines,
    ScopeSpace,
    build_scopes,
    consulted_period,
    reserve,
    share,
    targets,
)
from attribution.model.vectorized_split import SplitColumns
from attribution.model.vocabulary import (
    IDLE,
    NO_TIER,
    OVERHEAD_POOL,
    RECOVERY,
    RECOVERY_COMPONENT,
    SETTLED_COMPONENTS,
    UNALLOCATED_POOL,
    UNMEASURED,
    IdleKind,
)

Cluster = tuple[I64, I64, I64, I64]
"""(start index, unallocated, overhead, unmeasured) per cluster interval, in micro-USD."""

_CODE = {name: code for code, name in enumerate(SETTLED_COMPONENTS)}
WARM, HEADROOM, COLD = (_CODE[k.value] for k in (IdleKind.WARM, IdleKind.HEADROOM, IdleKind.COLD))
RECOVERING = _CODE[RECOVERY_COMPONENT]


@dataclass(slots=True)
class IdleRows:
    """Every amount to settle, each of one component (an idle kind or recovery) with its route."""

    start: I64
    pool: I64
    amount: I64
    kind: I64
    """Index into ``SETTLED_COMPONENTS``: warm or headroom for a pool-interval's idle, recovery for a
    recovering one's cost, cold for cluster idle."""
    pool_chain: Mask
    cluster_chain: Mask


def idle_rows(
    ix: Index, cols: SplitColumns, cluster: Cluster, policies: Policies, out: Contributions
) -> IdleRows:
    """Pool idle after reservations (charged here), pool recovery, then unallocated GPUs and overheads."""
    kind = np.where(cols.warm, WARM, HEADROOM).astype(np.int64)
    by_kind = {
        code: [policies.pool_route(name, k) for name in ix.pools]
        for code, k in ((WARM, IdleKind.WARM), (HEADROOM, IdleKind.HEADROOM))
    }
    row_kind_warm = kind == WARM
    pool_chain = np.where(
        row_kind_warm,
        np.array([r.pool for r in by_kind[WARM]], dtype=np.bool_)[ix.row_pool],
        np.array([r.pool for r in by_kind[HEADROOM]], dtype=np.bool_)[ix.row_pool],
    )
    cluster_chain = np.where(
        row_kind_warm,
        np.array([r.cluster for r in by_kind[WARM]], dtype=np.bool_)[ix.row_pool],
        np.array([r.cluster for r in by_kind[HEADROOM]], dtype=np.bool_)[ix.row_pool],
    )
    amount = cols.idle.copy()
    for code, name in enumerate(ix.pools):
        reservations = policies.reservations_by_pool.get(name, ())
        if not reservations:
            continue
        reserving = [c for c in (WARM, HEADROOM) if by_kind[c][code].reserve]
        rows = np.flatnonzero((ix.row_pool == code) & np.isin(kind, reserving))
        if rows.size:
            tenants = {r.tenant: ix.key_index[(r.tenant, NO_TIER)] for r in reservations}
            left, at, key, part = reserve(ix.starts[ix.row_start[rows]], amount[rows], reservations, tenants)
            amount[rows] = left
            code_at = np.full(at.size, code, dtype=np.int64)
            add_settled(out, ix.row_start[rows[at]], code_at, key, kind[rows[at]], part)
    recovering = np.flatnonzero(cols.recovery)
    route = policies.recovery_route
    cold = policies.cold_route
    start, unallocated, overhead, _ = cluster
    n, m = start.size, recovering.size
    pools = [np.full(n, ix.pool_index[name], dtype=np.int64) for name in (UNALLOCATED_POOL, OVERHEAD_POOL)]
    return IdleRows(
        start=np.concatenate([ix.row_start, ix.row_start[recovering], start, start]),
        pool=np.concatenate([ix.row_pool, ix.row_pool[recovering], *pools]),
        amount=np.concatenate([amount, cols.recovery[recovering], unallocated, overhead]),
        kind=np.concatenate(
            [kind, np.full(m, RECOVERING, dtype=np.int64), np.full(2 * n, COLD, dtype=np.int64)]
        ),
        pool_chain=np.concatenate([pool_chain, np.full(m, route.pool), np.full(2 * n, cold.pool)]),
        cluster_chain=np.concatenate(
            [cluster_chain, np.full(m, route.cluster), np.full(2 * n, cold.cluster)]
        ),
    )


def settle(
    ix: Index, space: ScopeSpace, cols: SplitColumns, outside: Lines, rows: IdleRows, out: Contributions
) -> None:
    """Each amount to the first scope of its chain with weights, or to an ``__idle__`` line
    (``__recovery__`` for recovery)."""
    non_idle = cols.entry_kv + cols.entry_static
    keep = np.flatnonzero(non_idle)
    # a gap's missing tenants weigh their non-idle cost, held by __unmeasured__ in their stead
    gaps = np.flatnonzero(cols.gap & (cols.unmeasured != 0))
    unmeasured_key = ix.key_index[(UNMEASURED, NO_TIER)]
    key = np.r_[cols.entry_key[keep], np.full(gaps.size, unmeasured_key, dtype=np.int64)]
    weight = np.r_[non_idle[keep], cols.unmeasured[gaps]]
    row = np.r_[cols.entry_row[keep], gaps]
    del non_idle, keep
    entry_start = ix.row_start[row]
    fine = space.fine(ix.row_pool[row], ix.window[entry_start], ix.period[entry_start], key)
    del row, entry_start, key
    scopes = build_scopes(space, fine, weight, outside, ix.tenant_of_key)
    del fine, weight
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
    amount = rows.amount[live]
    to_idle = target < 0
    if not out.read_period:
        out.read_period = consulted_period(
            space, scopes, target, rows.pool_chain[live], rows.cluster_chain[live]
        )
    for tenant, pick in ((IDLE, to_idle & (kind != RECOVERING)), (RECOVERY, to_idle & (kind == RECOVERING))):
        terminal = key_column(ix, tenant, int(pick.sum()))
        add_settled(out, start[pick], pool[pick], terminal, kind[pick], amount[pick])
    shared = np.flatnonzero(~to_idle)
    start, pool, kind = start[shared], pool[shared], kind[shared]
    for at, shared_key, shared_part in share(amount[shared], target[shared], scopes):
        row_start, row_pool, row_kind = start[at], pool[at], kind[at]
        key, part = shared_key, shared_part
        # the idle a gap's missing tenants would have carried is unmeasured; recovery stays recovery
        gap = (key == unmeasured_key) & (row_kind != RECOVERING)
        if np.any(gap):
            out.add(row_start[gap], row_pool[gap], key[gap], "unmeasured", part[gap])
            measured = ~gap
            row_start, row_pool, key, row_kind, part = (
                a[measured] for a in (row_start, row_pool, key, row_kind, part)
            )
        add_settled(out, row_start, row_pool, key, row_kind, part)


def add_settled(out: Contributions, start: I64, pool: I64, key: I64, kind: I64, amount: I64) -> None:
    """Settled contributions, each booked as the component of the amount it is a share of."""
    for code, name in enumerate(SETTLED_COMPONENTS):
        pick = kind == code
        if np.any(pick):
            out.add(start[pick], pool[pick], key[pick], name, amount[pick])
