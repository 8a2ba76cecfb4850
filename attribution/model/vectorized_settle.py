"""Idle settlement of ``attribute._settle`` for every idle amount of a window at once.

The non-idle weights of every scope (pool x window, pool x period, cluster x window, cluster x period)
are one table sorted by (scope, key). Each idle amount picks the first non-empty scope of its fallback
chain, exactly as the reference does, and is split over that scope's keys by tenant, then tier, with
the same largest-remainder kernels. Reservations are charged first, each active one its fraction.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attribution.model.attribute import PPM, Reservation
from attribution.model.vectorized_kernels import (
    I64,
    Mask,
    NotVectorisableError,
    allocate_by_tenant_many,
    as_int64,
    expand,
    group_of,
    group_sum,
    largest_remainder,
    runs,
)

CHUNK_ELEMENTS = 1 << 20
"""Idle amounts are split a chunk at a time, so the expanded arrays stay within some tens of MiB."""


@dataclass(frozen=True, slots=True)
class ScopeSpace:
    """Dense integer ids of scopes: pool x window, then pool x period, cluster x window, cluster x period."""

    n_pools: int
    n_windows: int
    n_periods: int
    n_keys: int

    def pool_window(self, pool: I64, window: I64) -> I64:
        return pool * self.n_windows + window

    def pool_period(self, pool: I64, period: I64) -> I64:
        return self.n_pools * self.n_windows + pool * self.n_periods + period

    def cluster_window(self, window: I64) -> I64:
        return self.n_pools * (self.n_windows + self.n_periods) + window

    def cluster_period(self, period: I64) -> I64:
        return self.n_pools * (self.n_windows + self.n_periods) + self.n_windows + period

    @property
    def size(self) -> int:
        return (self.n_pools + 1) * (self.n_windows + self.n_periods)

    def is_pool_window(self, ids: I64) -> Mask:
        mask: Mask = ids < self.n_pools * self.n_windows
        return mask

    def is_cluster_window(self, ids: I64) -> Mask:
        first = self.n_pools * (self.n_windows + self.n_periods)
        mask: Mask = (ids >= first) & (ids < first + self.n_windows)
        return mask

    def fine(self, pool: I64, window: I64, period: I64, key: I64) -> I64:
        """One id per (pool, window, period, key), in their order (``build_scopes`` groups weights by
        it), computed in place: a full-fleet day has 4 M weights, and each temporary is 33 MiB."""
        if (
            self.size * self.n_keys >= 2**62
            or (self.n_pools * self.n_windows + self.n_windows) * self.n_periods * self.n_keys >= 2**62
        ):
            raise NotVectorisableError("too many scopes for int64 ids")
        ids: I64 = pool * self.n_windows
        ids += window
        ids *= self.n_periods
        ids += period
        ids *= self.n_keys
        ids += key
        return ids


@dataclass(slots=True)
class Scopes:
    """Weights per scope: scopes ``ids`` (sorted) hold tenant segments, tenant segments hold keys."""

    ids: I64
    key_total: I64
    seg_offset: I64
    seg_count: I64
    seg_weight: I64
    key_offset: I64
    key_count: I64
    key: I64
    weight: I64

    def find(self, scope_ids: I64) -> I64:
        """Index of each scope id in ``ids``, or -1 where that scope has no weights."""
        at = np.searchsorted(self.ids, scope_ids)
        at_clipped = np.minimum(at, max(self.ids.size - 1, 0))
        found = (at < self.ids.size) & (self.ids[at_clipped] == scope_ids) if self.ids.size else at < 0
        return np.where(found, at_clipped, -1)


@dataclass(slots=True)
class Lines:
    """Weights or contributions as columns: (pool, window, period, key) or (start, pool, key) rows."""

    pool: I64
    window: I64
    period: I64
    key: I64
    amount: I64


def build_scopes(space: ScopeSpace, fine: I64, amount: I64, outside: Lines, tenant_of_key: I64) -> Scopes:
    """The non-idle weights of every scope, from each weight's ``space.fine`` id and amount; ``outside``
    (stored weights of the period's other intervals) counts at the period scopes only, as in
    ``_Settler``."""
    ids, (amount,) = group_sum(fine, [amount])
    key = ids % space.n_keys
    rest = ids // space.n_keys
    period = rest % space.n_periods
    rest //= space.n_periods
    window = rest % space.n_windows
    pool = rest // space.n_windows
    scope = np.concatenate(
        [
            space.pool_window(pool, window),
            space.pool_period(pool, period),
            space.cluster_window(window),
            space.cluster_period(period),
            space.pool_period(outside.pool, outside.period),
            space.cluster_period(outside.period),
        ]
    )
    keys = np.concatenate([key, key, key, key, outside.key, outside.key])
    amounts = np.concatenate([amount, amount, amount, amount, outside.amount, outside.amount])
    ids, (weight,) = group_sum(scope * space.n_keys + keys, [amounts])
    scope = ids // space.n_keys
    key = ids % space.n_keys
    tenant = tenant_of_key[key]
    scope_start, scope_len = runs(scope)
    seg_start, seg_len = runs(scope * (int(tenant_of_key.max(initial=0)) + 1) + tenant)
    seg_scope = np.searchsorted(scope_start, seg_start, side="right") - 1
    seg_offset = np.searchsorted(seg_scope, np.arange(scope_start.size))
    return Scopes(
        ids=scope[scope_start],
        key_total=scope_len,
        seg_offset=seg_offset,
        seg_count=np.diff(np.r_[seg_offset, seg_start.size]),
        seg_weight=np.add.reduceat(weight, seg_start) if seg_start.size else weight[:0],
        key_offset=seg_start,
        key_count=seg_len,
        key=key,
        weight=weight,
    )


def share(amount: I64, target: I64, scopes: Scopes) -> Iterator[tuple[I64, I64, I64]]:
    """Split each ``amount`` over the scope ``scopes[target]`` by tenant then tier (``_share``).

    Yields (row, key, part) for every non-zero part, a chunk of rows at a time (rows index ``amount``):
    the caller books each chunk before the next is computed, since all the parts of a full-fleet day
    at once (some 12 M, three int64 columns, and the columns derived from them) were the engine's peak.
    """
    cumulative = np.cumsum(scopes.key_total[target])
    cuts = np.searchsorted(cumulative, np.arange(CHUNK_ELEMENTS, int(cumulative[-1:].sum()), CHUNK_ELEMENTS))
    edges = np.unique(np.r_[0, cuts, amount.size]).tolist()
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        t = target[lo:hi]
        seg = expand(scopes.seg_offset[t], scopes.seg_count[t])
        key_at = expand(scopes.key_offset[seg], scopes.key_count[seg])
        parts = allocate_by_tenant_many(
            amount[lo:hi],
            scopes.seg_count[t],
            scopes.seg_weight[seg],
            scopes.key_count[seg],
            scopes.weight[key_at],
        )
        row = np.repeat(group_of(scopes.seg_count[t]), scopes.key_count[seg]) + lo
        nonzero = parts != 0
        yield row[nonzero], scopes.key[key_at][nonzero], parts[nonzero]


def targets(
    space: ScopeSpace,
    scopes: Scopes,
    pool: I64,
    window: I64,
    period: I64,
    pool_chain: Mask,
    cluster_chain: Mask,
) -> I64:
    """The first scope with weights along each amount's fallback chain, or -1 (an ``__idle__`` line)."""
    target = np.full(pool.size, -1, dtype=np.int64)
    for allowed, scope_ids in (
        (pool_chain, space.pool_window(pool, window)),
        (pool_chain, space.pool_period(pool, period)),
        (cluster_chain, space.cluster_window(window)),
        (cluster_chain, space.cluster_period(period)),
    ):
        found = scopes.find(scope_ids)
        target = np.where((target < 0) & allowed & (found >= 0), found, target)
    return target


def consulted_period(
    space: ScopeSpace, scopes: Scopes, target: I64, pool_chain: Mask, cluster_chain: Mask
) -> bool:
    """Whether any amount's chain went past its settlement window to a period's scope (which holds the
    stored weights of the period's intervals outside the run), whatever it found there: an amount
    settled within its window is decided by the run's own weights alone."""
    found = target >= 0
    ids = scopes.ids[np.where(found, target, 0)] if scopes.ids.size else np.zeros(target.size, dtype=np.int64)
    in_pool_window = found & space.is_pool_window(ids)
    in_cluster_window = found & space.is_cluster_window(ids)
    consulted = (pool_chain & ~in_pool_window) | (~pool_chain & cluster_chain & ~in_cluster_window)
    return bool(np.any(consulted))


def reserve(
    start_s: I64, amount: I64, reservations: Sequence[Reservation], key_of_tenant: Mapping[str, int]
) -> tuple[I64, I64, I64, I64]:
    """``_reserve`` for the idle of one pool's intervals: each active reservation (sorted by tenant) gets
    its fraction. Returns (what is left to share, row, key, part) for every non-zero reserved part."""
    ordered = sorted(reservations, key=lambda r: r.tenant)
    fractions = as_int64([r.fraction_ppm for r in ordered])
    active = np.zeros((amount.size, len(ordered)), dtype=np.bool_)
    for j, r in enumerate(ordered):
        active[:, j] = (start_s >= r.from_s) & (True if r.to_s is None else start_s < r.to_s)
    rows = np.flatnonzero(active.any(axis=1))
    if np.any(fractions < 0):
        raise NotVectorisableError("a negative reserved fraction")
    rest_ppm = PPM - (active[rows] * fractions).sum(axis=1)
    if np.any(rest_ppm < 0):
        raise NotVectorisableError("reservations of more than the whole pool")
    mask = np.concatenate([active[rows], np.ones((rows.size, 1), dtype=np.bool_)], axis=1)
    weights = np.concatenate([active[rows] * fractions, rest_ppm[:, None]], axis=1)[mask]
    counts = mask.sum(axis=1).astype(np.int64)
    parts = largest_remainder(amount[rows], counts, weights)
    last = np.cumsum(counts) - 1
    left = amount.copy()
    left[rows] = parts[last]
    is_reserved = np.ones(parts.size, dtype=np.bool_)
    is_reserved[last] = False
    tenant_key = as_int64([key_of_tenant[r.tenant] for r in ordered])
    column = np.nonzero(mask)[1]
    pick = is_reserved & (parts != 0)
    row_of = rows[group_of(counts)]
    return left, row_of[pick], tenant_key[column[pick]], parts[pick]
