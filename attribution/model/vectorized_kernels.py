"""The exact integer kernels of the vectorised engine: ``money.allocate`` over many groups at once.

Every function here returns, to the micro-dollar, what the scalar reference returns for each group,
ties included (largest remainder, then larger weight, then earlier position). Money stays int64; where a
product ``amount x weight`` might not fit, that element is computed with Python integers instead, so an
overflow can cost speed but never a wrong number. Whatever these kernels cannot do exactly raises
``NotVectorisableError``, and the caller falls back to the reference engine for the whole call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Ints = npt.NDArray[np.signedinteger[Any]]
"""Integers of any signed width: a column narrowed by :func:`narrowest` (sum it with ``dtype=np.int64``)."""
Mask = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]
EXACT_FLOAT_INT = 2.0**53
"""Below this, int and float arithmetic agree exactly, so numpy's float steps equal Python's."""

SAFE_PRODUCT = 2.0**62
"""Below this a float estimate of a non-negative product proves the int64 product exact (2**63 - 1)."""


class NotVectorisableError(Exception):
    """Input outside the exact domain of the vectorised engine (NaN, negative money, int64 overflow of a
    sum, duplicate pool-intervals...): the reference engine decides, and raises if it must."""


def as_int64(values: list[int]) -> I64:
    """Python ints to int64, refusing what does not fit or is not an integer rather than wrapping it or
    truncating it (a float where an int belongs is the reference's to handle, or to refuse)."""
    try:
        array = np.asarray(values)
    except (OverflowError, TypeError, ValueError) as exc:
        raise NotVectorisableError("integer inputs that numpy cannot hold") from exc
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "ib":
        raise NotVectorisableError(f"inputs of type {array.dtype} where int64 integers belong")
    return array.astype(np.int64)


NARROW_TYPES = (np.int8, np.int16, np.int32, np.int64)


def narrowest(values: I64 | F64) -> Ints:
    """``values`` (integers, or floats that hold integers exactly) in the narrowest signed integer type
    that holds every one of them: the same numbers in fewer bytes. A full-fleet day is 12 M lines of ten
    columns; most of their amounts fit in 32 bits or fewer, and some components are all zero."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = values.min(), values.max()
    if values.dtype.kind == "f" and not (low >= -(2.0**63) and high < 2.0**63):  # NaN fails too
        raise NotVectorisableError("integers beyond int64")
    for dtype in NARROW_TYPES:
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            narrowed: Ints = values.astype(dtype)
            return narrowed
    raise NotVectorisableError("integers beyond int64")


def check_sum_fits(values: I64) -> None:
    """Refuse inputs whose total could overflow int64: every sum the engine takes is bounded by it."""
    if values.size and float(np.abs(values.astype(np.float64)).sum()) >= SAFE_PRODUCT:
        raise NotVectorisableError("amounts too large to sum in int64")


def muldivmod(a: I64, b: I64, d: I64) -> tuple[I64, I64]:
    """``divmod(a * b, d)`` elementwise for non-negative ``a``, ``b`` and positive ``d`` with ``b <= d``.

    The quotient is at most ``a`` and the remainder below ``d``, so both fit in int64 even when the
    product does not; those elements (a float estimate of at least 2**62) are computed in Python ints.
    """
    if a.size == 0 or float(a.max()) * float(b.max()) < SAFE_PRODUCT:  # no product can reach it
        q, r = np.divmod(a * b, d)
        return q, r
    risky = a.astype(np.float64) * b.astype(np.float64) >= SAFE_PRODUCT
    if not risky.any():
        q, r = np.divmod(a * b, d)
        return q, r
    q = np.zeros_like(a)
    r = np.zeros_like(a)
    safe = ~risky
    q[safe], r[safe] = np.divmod(a[safe] * b[safe], d[safe])
    idx = np.flatnonzero(risky)
    pairs = [
        divmod(x * y, z) for x, y, z in zip(a[idx].tolist(), b[idx].tolist(), d[idx].tolist(), strict=True)
    ]
    q[idx] = [p for p, _ in pairs]
    r[idx] = [m for _, m in pairs]
    return q, r


def group_of(counts: I64) -> I64:
    """The group index of each element when group ``k`` holds ``counts[k]`` consecutive elements."""
    return np.repeat(np.arange(counts.size, dtype=np.int64), counts)


def segment_sum(values: I64, counts: I64, starts: I64 | None = None) -> I64:
    """Sum of each group's consecutive ``values``; empty groups sum to 0. Refuses (rather than wraps)
    values whose largest times the largest group could reach int64's range. ``starts``: each group's
    first index (``np.cumsum(counts) - counts``), when the caller has it already."""
    sums = np.zeros(counts.size, dtype=np.int64)
    if values.size:
        if float(np.abs(values).max()) * float(counts.max()) >= SAFE_PRODUCT:
            raise NotVectorisableError("group sums that could overflow int64")
        if starts is None:
            starts = np.cumsum(counts) - counts
        if counts.min() > 0:
            sums = np.add.reduceat(values, starts)
        else:
            nonempty = counts > 0
            sums[nonempty] = np.add.reduceat(values, starts[nonempty])
    return sums


def expand(offsets: I64, counts: I64) -> I64:
    """Concatenated ``range(offsets[k], offsets[k] + counts[k])`` for every k, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    shift: I64 = np.repeat(offsets - starts, counts)
    return np.arange(total, dtype=np.int64) + shift


def largest_remainder(totals: I64, counts: I64, weights: I64) -> I64:
    """``money.allocate(totals[k], weights of group k)`` for every group k at once.

    Group k is ``counts[k]`` consecutive non-negative ``weights``. A group whose weights sum to zero must
    have a zero total (the reference never splits one) and gets zeros.
    """
    if weights.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    sums = segment_sum(weights, counts, starts)
    if np.any((sums == 0) & (totals != 0)):
        raise NotVectorisableError("a non-zero amount over weights that sum to zero")
    group = group_of(counts)
    q, r = muldivmod(totals[group], weights, np.maximum(sums, 1)[group])
    leftover = totals - segment_sum(q, counts, starts)
    # an element with no remainder never wins a leftover unit: the remainders sum to leftover x sum
    candidates = np.flatnonzero((leftover > 0)[group] & (r > 0))
    if candidates.size:
        cg = group[candidates]
        pairs = counts[cg] == 2
        if pairs.any():  # at fleet size half the groups are two, 12 M of a day's 27 M weights
            _pair_wins(q, r, weights, candidates[pairs])
            candidates, cg = candidates[~pairs], cg[~pairs]
        if candidates.size:
            q[candidates[_wins(cg, r[candidates], weights[candidates], leftover[cg])]] += 1
    return q


def _pair_wins(q: I64, r: I64, weights: I64, both: I64) -> None:
    """Give the leftover unit of each group of two in ``both`` (the two elements of every such group
    with a leftover, one after the other) to its winner, in ``q``.

    A group of two has at most one leftover unit (its remainders sum to leftover x sum, each below the
    sum), and where it has one both remainders are positive, so both elements are candidates. The winner
    is the larger remainder, then the larger weight, then the first: what :func:`_wins` ranks for a group
    of two, without its sort (at fleet size, 12 M of a day's 24 M candidates)."""
    first, second = both[0::2], both[1::2]
    r0, r1 = r[first], r[second]
    first_wins = (r0 > r1) | ((r0 == r1) & (weights[first] >= weights[second]))
    q[np.where(first_wins, first, second)] += 1


def _wins(group: I64, remainder: I64, weight: I64, quota: I64) -> Mask:
    """Whether each element is among the first ``quota`` of its group (``quota`` repeated per element)
    ordered by (-remainder, -weight, position): the elements that take a leftover unit.

    Groups come in ascending order (``largest_remainder``'s candidates do), so sorting by group first
    leaves each group's elements on the positions they held: the element at sorted position i ranks
    ``i - its group's start``, and only the winners are gathered back. A day of the full fleet ranks some
    30 M elements in 29 calls, where every full-length pass counts (:func:`_by_remainder`)."""
    n = group.size
    starts, lengths = runs(group)
    start_of = np.repeat(starts, lengths)
    rank = np.arange(n, dtype=np.int64) - start_of
    order = _by_remainder(group, remainder, weight, lengths, start_of, rank)
    wins = np.zeros(n, dtype=np.bool_)
    wins[order[rank < quota]] = True
    return wins


def _by_remainder(group: I64, remainder: I64, weight: I64, lengths: I64, start_of: I64, rank: I64) -> I64:
    """The elements' order by (group, -remainder, -weight, position), for :func:`_wins` (``lengths``: each
    group's size, groups in order; ``start_of``: each element's group start; ``rank``: its place in its
    group).

    Where it fits in int64, one key packs the group's number, the remainder and the element's place in
    its group, and numpy sorts the keys themselves (no index array): the place keeps equal remainders in
    position order, as a stable sort would, at a third of a stable ``argsort``'s cost. Where only group
    and remainder fit, a stable ``argsort`` of that key; where not even they do, the three-key lexsort.
    Equal remainders mostly come with equal weights; where some do not, only the runs of equal keys are
    sorted again, by weight (:func:`_heavier_first_within_ties`)."""
    n = group.size
    bound = int(remainder.max()) + 1
    groups = lengths.size
    place_bits = int(rank.max()).bit_length()
    if groups * bound >= 2**63:
        order: I64 = np.lexsort((-weight, -remainder, group))
        return order
    key = group_of(lengths)  # the group's number among these groups
    key *= bound
    key += bound - 1 - remainder
    if (groups * bound) << place_bits < 2**63:
        key <<= place_bits
        key |= rank
        key.sort()
        order = start_of + (key & ((1 << place_bits) - 1))
        key >>= place_bits
    else:
        order = np.argsort(key, kind="stable")
        key = key[order]
    tie = np.flatnonzero(key[1:] == key[:-1])  # sorted positions i with i + 1 of the same key
    if tie.size and np.any(weight[order[tie]] != weight[order[tie + 1]]):
        order = _heavier_first_within_ties(order, tie, weight, n)
    return order


def _heavier_first_within_ties(order: I64, tie: I64, weight: I64, n: int) -> I64:
    """``order`` with each run of equal keys (``tie``: the sorted positions i whose key equals i + 1's)
    ordered by -weight, equal weights in the order they had: what the three-key lexsort gives. Only the
    positions in such runs are sorted again, each run where it is (a stable sort by run, then weight)."""
    in_run = np.zeros(n, dtype=np.bool_)
    in_run[tie] = True
    in_run[tie + 1] = True
    at = np.flatnonzero(in_run)
    continues = np.zeros(n, dtype=np.bool_)
    continues[tie + 1] = True
    run = np.cumsum(~continues[at], dtype=np.int64) - 1
    members = order[at]
    w = weight[members]
    weight_bound = int(w.max()) + 1
    if (int(run[-1]) + 1) * weight_bound < 2**63:
        within = np.argsort(run * weight_bound + (weight_bound - 1 - w), kind="stable")
    else:
        within = np.lexsort((-w, run))
    reordered = order.copy()
    reordered[at] = members[within]
    return reordered


def allocate_two(total: I64, w0: I64, w1: I64) -> tuple[I64, I64]:
    """``money.allocate(total, [w0, w1])`` elementwise; (0, 0) where both weights are zero."""
    s = w0 + w1
    d = np.maximum(s, 1)
    q0, r0 = muldivmod(total, w0, d)
    q1, r1 = muldivmod(total, w1, d)
    left = total - q0 - q1  # 0 or 1
    if np.any((s == 0) & (total != 0)):
        raise NotVectorisableError("a non-zero amount over weights that sum to zero")
    first = (r0 > r1) | ((r0 == r1) & (w0 >= w1))
    return q0 + left * first, q1 + left * ~first


def allocate_by_tenant_many(
    totals: I64, tenants_per_group: I64, tenant_weights: I64, keys_per_tenant: I64, key_weights: I64
) -> I64:
    """``split.allocate_by_tenant`` for many groups at once: each group's total to its tenants (in sorted
    order) by ``tenant_weights``, then each tenant's share to its keys (tiers) by ``key_weights``."""
    shares = largest_remainder(totals, tenants_per_group, tenant_weights)
    return largest_remainder(shares, keys_per_tenant, key_weights)


def runs(values: I64) -> tuple[I64, I64]:
    """Start index and length of each run of equal consecutive ``values``."""
    if values.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return starts, np.diff(np.r_[starts, values.size])


def group_sum(keys: I64, values: list[I64]) -> tuple[I64, list[I64]]:
    """Sorted distinct ``keys`` and, for each array of ``values``, its sum per key (int64, exact)."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts, _ = runs(sk)
    if sk.size == 0:
        return sk, [v[:0] for v in values]
    return sk[starts], [np.add.reduceat(v[order], starts) for v in values]
