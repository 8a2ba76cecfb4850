"""Stored line rows from the model's line columns: each line summed over its grain (an hour by default).

A month of a mid-sized cluster is millions of interval lines and some ten thousand hourly ones, so the
money is summed with numpy over the columns, never one Python object per interval line, and the lines
come out as columns too (:class:`LineRows`), which the store COPYs as they are. Money sums are
integers, exact in any order. Token-seconds come from the gateway's usage rows and are summed with
``math.fsum`` per line: correctly rounded, so the stored figure does not depend on the order rows arrived in.
Usage comes as columns too (``model/vectorized_usage.py``), grouped the same way as the money.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from attribution.model.split import LineKey
from attribution.model.vectorized_kernels import F64, I64, Ints, Mask
from attribution.model.vectorized_lines import LineColumns
from attribution.model.vectorized_usage import UsageColumns
from attribution.model.vocabulary import IDLE_KINDS, RECOVERY_COMPONENT

SUMMED = ("kv_in_use", "static", *IDLE_KINDS, "unmeasured", RECOVERY_COMPONENT)
"""The line columns summed within a grain; a row's idle is the sum of its three kinds."""
COUNTS = ("requests", "prompt_tokens", "generation_tokens")
"""The usage counts summed within a grain (integers)."""
GROUPS_PER_CHUNK = 1 << 14
"""Token-seconds are summed this many groups at a time (a few hundred thousand Python floats)."""


@dataclass(frozen=True, slots=True)
class LineRows:
    """The stored lines of a window as columns, in key order (grain start, pool, tenant, tier): line i is
    ``(interval_start_s[i], pools[pool[i]], *keys[key[i]])``. ``pools`` and ``keys`` are sorted, so code
    order is name order. Money is micro-USD by component (``SUMMED``, each a column of that name);
    ``idle`` and ``total`` are their exact sums."""

    interval_start_s: I64
    pool: I64
    key: I64
    pools: list[str]
    keys: list[LineKey]
    money: dict[str, I64]
    kv_token_seconds: F64
    kv_byte_seconds: F64
    counts: dict[str, I64]
    estimated: Mask

    def __len__(self) -> int:
        return int(self.interval_start_s.size)

    @property
    def idle(self) -> I64:
        total: I64 = sum((self.money[k] for k in IDLE_KINDS), np.zeros(len(self), dtype=np.int64))
        return total

    @property
    def total(self) -> I64:
        parts = ("kv_in_use", "static", "unmeasured", RECOVERY_COMPONENT)
        total: I64 = sum((self.money[k] for k in parts), self.idle)
        return total


@dataclass(frozen=True, slots=True)
class _Groups:
    """One source's rows grouped by (grain, pool, key), codes in the common sorted name lists."""

    grain: I64
    pool: I64
    key: I64
    flagged: Mask


def _group(starts_s: I64, pool: Ints, key: Ints, grain_seconds: int) -> tuple[I64, I64, I64, Ints, Ints]:
    """The row order by (grain, pool, key), where each group starts in it, and its grain, pool, key.

    Sorted on one int64 code (grain index, pool, key) where the three fit in one: a stable sort of the
    rows, which come sorted by interval, merges one sorted run per interval, several times faster than
    a three-key ``lexsort``; that is the fallback. The code is built in place, and the grains are
    computed for the groups only: each full-length temporary is 95 MiB on a full-fleet day."""
    code = _code(starts_s, pool, key, grain_seconds)
    if code is None:
        grain = starts_s - starts_s % grain_seconds
        order = np.lexsort((key, pool, grain))
        g, p, k = grain[order], pool[order], key[order]
        boundary = np.ones(len(order), dtype=bool)
        boundary[1:] = (g[1:] != g[:-1]) | (p[1:] != p[:-1]) | (k[1:] != k[:-1])
        del grain, g, p, k
    else:
        order = np.argsort(code, kind="stable")
        code = code[order]
        boundary = np.ones(len(order), dtype=bool)
        np.not_equal(code[1:], code[:-1], out=boundary[1:])
        del code
    first = np.flatnonzero(boundary)
    rows = order[first]
    group_start = starts_s[rows]
    return order, first, group_start - group_start % grain_seconds, pool[rows], key[rows]


def _code(starts_s: I64, pool: Ints, key: Ints, grain_seconds: int) -> Ints | None:
    """``(grain index, pool, key)`` as one integer in their order, or None if it would not fit in int64;
    int32 where every code fits in it (a full-fleet day's do: 24 grains x 323 pools x 2,124 keys), which
    halves the sort's keys."""
    if not starts_s.size:
        return None
    low = int(starts_s.min()) // grain_seconds
    grains = int(starts_s.max()) // grain_seconds - low + 1
    pools, keys = int(pool.max()) + 1, int(key.max()) + 1
    if grains * pools * keys >= 2**62 or int(pool.min()) < 0 or int(key.min()) < 0:
        return None
    grain = starts_s // grain_seconds
    grain -= low
    # every partial result below is at most the last one, so the type that holds the codes holds them
    code: Ints = grain.astype(np.int32) if grains * pools * keys <= np.iinfo(np.int32).max else grain
    del grain
    code *= pools
    code += pool
    code *= keys
    code += key
    return code


def _estimated_rows(
    starts_s: I64, pool: Ints, pools: Sequence[str], estimated: AbstractSet[tuple[int, str]]
) -> Mask:
    """Rows whose (interval start, pool) was estimated: looked up once per run of rows of one
    pool-interval (the rows come sorted by interval and pool), not once per row."""
    pool_code = {name: i for i, name in enumerate(pools)}
    codes = [ts * len(pools) + pool_code[p] for ts, p in estimated if p in pool_code]
    if not codes:
        return np.zeros(len(starts_s), dtype=bool)
    change = np.ones(len(starts_s), dtype=bool)
    change[1:] = starts_s[1:] != starts_s[:-1]
    change[1:] |= pool[1:] != pool[:-1]
    first = np.flatnonzero(change)
    del change
    flagged = np.isin(starts_s[first] * len(pools) + pool[first], np.array(codes, dtype=np.int64))
    return np.repeat(flagged, np.diff(np.r_[first, len(starts_s)]))


def _recode(codes: Ints, names: Sequence[object], common: Sequence[object]) -> I64:
    position = {name: i for i, name in enumerate(common)}
    table = np.array([position[n] for n in names], dtype=np.int64)
    recoded: I64 = table[codes] if len(names) else codes
    return recoded


def _money_by_grain(
    columns: LineColumns,
    estimated: AbstractSet[tuple[int, str]],
    grain_seconds: int,
    pools: list[str],
    keys: list[LineKey],
) -> tuple[_Groups, list[I64]]:
    """Each line's components (``SUMMED``) summed within its grain, and whether any of its intervals was
    estimated."""
    order, first, g, p, k = _group(columns.interval_start_s, columns.pool, columns.key, grain_seconds)
    if not len(order):
        return _Groups(g, p, k, np.zeros(0, dtype=bool)), [np.zeros(0, dtype=np.int64) for _ in SUMMED]
    # a component no line has (recovery without incidents, unmeasured with every GPU sampled) sums to 0
    # without its gather and reduceat
    sums = [
        np.add.reduceat(values[order], first, dtype=np.int64)
        if (values := getattr(columns, c)).any()
        else np.zeros(first.size, dtype=np.int64)
        for c in SUMMED
    ]
    flagged = _estimated_rows(columns.interval_start_s, columns.pool, columns.pools, estimated)[order]
    groups = _Groups(
        g,
        _recode(p, columns.pools, pools),
        _recode(k, columns.keys, keys),
        np.logical_or.reduceat(flagged, first),
    )
    return groups, sums


def _usage_by_grain(
    usage: UsageColumns,
    estimated: AbstractSet[tuple[int, str]],
    grain_seconds: int,
    usage_estimated: AbstractSet[int],
    common: tuple[list[str], list[LineKey]],
) -> tuple[_Groups, F64, list[I64]]:
    """Usage summed within each (grain, pool, tenant, tier): counts with numpy (integers, exact),
    token-seconds with ``math.fsum`` per group (correctly rounded: the order rows arrived in moves no bit)."""
    ts = usage.interval_start_s
    order, first, g, p, k = _group(ts, usage.pool, usage.key, grain_seconds)
    if not len(order):
        none = np.zeros(0, dtype=np.int64)
        return _Groups(g, p, k, np.zeros(0, dtype=bool)), np.zeros(0), [none for _ in COUNTS]
    counts = [np.add.reduceat(getattr(usage, c)[order], first) for c in COUNTS]
    flagged = _estimated_rows(ts, usage.pool, usage.pools, estimated)
    if usage_estimated:
        flagged |= np.isin(ts, np.array(sorted(usage_estimated), dtype=np.int64))
    token_seconds = _fsums(usage.kv_token_seconds, order, first)
    pools, keys = common
    groups = _Groups(
        g,
        _recode(p, usage.pools, pools),
        _recode(k, usage.keys, keys),
        np.logical_or.reduceat(flagged[order], first),
    )
    return groups, token_seconds.astype(np.float64), counts


def _fsums(values: F64, order: I64, first: I64) -> F64:
    """``math.fsum`` of each group of ``values[order]`` (group k starts at ``first[k]``), a chunk of
    groups at a time: the values become Python floats for ``fsum``, and all of a full-fleet day's at once
    (4.3 M, 24 bytes each and a list) were line_rows' peak."""
    bounds = np.r_[first, order.size]
    sums = np.zeros(first.size, dtype=np.float64)
    for lo in range(0, first.size, GROUPS_PER_CHUNK):
        hi = min(lo + GROUPS_PER_CHUNK, first.size)
        base = int(bounds[lo])
        seconds = values[order[base : int(bounds[hi])]].tolist()
        edges = (bounds[lo : hi + 1] - base).tolist()
        sums[lo:hi] = [_normal(math.fsum(seconds[a:b])) for a, b in pairwise(edges)]
    return sums


def _normal(seconds: float) -> float:
    """``seconds``, or 0.0 where it is subnormal (below 2.2e-308 token-seconds: no physical amount). A
    stored subnormal breaks the analyst views: Postgres raises "value out of range: underflow" where
    a float division rounds to zero, as ``kv_byte_seconds / <bytes in a GiB-hour>`` does for one."""
    return 0.0 if abs(seconds) < sys.float_info.min else seconds


def line_rows(
    columns: LineColumns,
    estimated: AbstractSet[tuple[int, str]],
    usage: UsageColumns,
    bytes_per_token: Mapping[str, int],
    grain_seconds: int,
    usage_estimated: AbstractSet[int] = frozenset(),
) -> LineRows:
    """One row per (grain, pool, tenant, tier), in key order. Usage with no cost (a pool with no sampled
    GPUs) still gets a zero-cost row; a row is estimated if any of its intervals' pool-interval was (in
    ``estimated``: (interval start in Unix seconds, pool) of each pool-interval estimated), or if
    it has usage in an interval of ``usage_estimated`` (Unix seconds: usage spread over a gateway gap).
    The money lines and the usage lines are grouped apart, then merged on their keys: a line is in one
    or both."""
    pools = sorted(set(columns.pools) | set(usage.pools))
    keys = sorted(set(columns.keys) | set(usage.keys))
    money, sums = _money_by_grain(columns, estimated, grain_seconds, pools, keys)
    used, token_seconds, counts = _usage_by_grain(
        usage, estimated, grain_seconds, usage_estimated, (pools, keys)
    )
    g, p, k = (
        np.concatenate(pair)
        for pair in ((money.grain, used.grain), (money.pool, used.pool), (money.key, used.key))
    )
    order = np.lexsort((k, p, g))
    boundary = np.ones(len(order), dtype=bool)
    boundary[1:] = (np.diff(g[order]) != 0) | (np.diff(p[order]) != 0) | (np.diff(k[order]) != 0)
    line_of = np.empty(len(order), dtype=np.int64)
    line_of[order] = np.cumsum(boundary) - 1  # each group's line, money's groups first
    n, m = int(boundary.sum()), len(money.grain)
    of_money, of_usage = line_of[:m], line_of[m:]
    first = order[boundary]
    estimated_lines = np.zeros(n, dtype=bool)
    estimated_lines[of_money] |= money.flagged
    estimated_lines[of_usage] |= used.flagged
    seconds = np.zeros(n, dtype=np.float64)
    seconds[of_usage] = token_seconds
    per_token = np.array([bytes_per_token.get(pool, 0) for pool in pools], dtype=np.int64)
    line_pool = p[first]
    return LineRows(
        interval_start_s=g[first],
        pool=line_pool,
        key=k[first],
        pools=pools,
        keys=keys,
        money={c: _spread(n, of_money, s) for c, s in zip(SUMMED, sums, strict=True)},
        kv_token_seconds=seconds,
        kv_byte_seconds=seconds * per_token[line_pool],
        counts={c: _spread(n, of_usage, s) for c, s in zip(COUNTS, counts, strict=True)},
        estimated=estimated_lines,
    )


def _spread(n: int, at: I64, values: I64) -> I64:
    out = np.zeros(n, dtype=np.int64)
    out[at] = values
    return out


def total_usd_micros(columns: LineColumns) -> int:
    return sum(int(getattr(columns, c).sum(dtype=np.int64)) for c in SUMMED)
