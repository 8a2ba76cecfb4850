"""The line builders the memory work of issue 14 replaced, kept as oracles for their replacements.

``unique_totals`` is ``Contributions.take_totals`` before it (``np.unique(return_inverse=True)`` over
every line id, int64 sums); ``group``, ``estimated_rows`` and ``fsums`` are ``ledger/lines.py``'s grouping
helpers before it (an int64 code over full-length temporaries, ``isin`` over every row, one list of
every token-second). Same inputs, same numbers: the tests compare them with the code that replaced them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from attribution.ledger.lines import _normal
from attribution.model.vectorized_kernels import F64, I64, Ints, Mask
from attribution.model.vectorized_lines import ADDED, COMPONENTS

Contribution = tuple[str, I64, I64, I64, I64]
"""(component, start index, pool code, key code, amount); component "present" is a split's lines (its
amount is both KV in use and static)."""


def unique_totals(
    n_pools: int, n_keys: int, added: Sequence[Contribution]
) -> tuple[I64, I64, I64, list[I64]]:
    """What the old ``take_totals`` returned for these contributions, added in this order."""
    present: list[I64] = []
    ids: dict[str, list[I64]] = {name: [] for name in COMPONENTS}
    amounts: dict[str, list[I64]] = {name: [] for name in COMPONENTS}
    for name, start, pool, key, amount in added:
        line = (start * n_pools + pool) * n_keys + key
        if name == "present":
            present.append(line)
            for part in ("kv_in_use", "static"):
                ids[part].append(line)
                amounts[part].append(amount)
        else:
            ids[name].append(line)
            amounts[name].append(amount)
    empty = np.zeros(0, dtype=np.int64)
    every = [*present, *(a for name in ADDED for a in ids[name])]
    line_ids, inverse = np.unique(np.concatenate([empty, *every]), return_inverse=True)
    offsets = {"kv_in_use": 0, "static": 0}
    at = sum(a.size for a in present)
    for name in ADDED:
        offsets[name] = at
        at += sum(a.size for a in ids[name])
    sums = []
    for name in COMPONENTS:
        values = np.concatenate([empty, *amounts[name]])
        out = np.zeros(line_ids.size, dtype=np.int64)
        np.add.at(out, inverse[offsets[name] : offsets[name] + values.size], values)
        sums.append(out)
    key = line_ids % n_keys
    rest = line_ids // n_keys
    return rest // n_pools, rest % n_pools, key, sums


def group(starts_s: I64, pool: Ints, key: Ints, grain_seconds: int) -> tuple[I64, I64, I64, I64, I64]:
    """The old ``lines._group``: order by (grain, pool, key), group starts, and their keys."""
    grain = starts_s - starts_s % grain_seconds
    pool, key = pool.astype(np.int64), key.astype(np.int64)
    low = int(grain.min())
    grains = (int(grain.max()) - low) // grain_seconds + 1
    pools, keys = int(pool.max()) + 1, int(key.max()) + 1
    if grains * pools * keys >= 2**62:
        order = np.lexsort((key, pool, grain))
        g, p, k = grain[order], pool[order], key[order]
        boundary = np.ones(len(order), dtype=bool)
        boundary[1:] = (g[1:] != g[:-1]) | (p[1:] != p[:-1]) | (k[1:] != k[:-1])
    else:
        code = ((grain - low) // grain_seconds * pools + pool) * keys + key
        order = np.argsort(code, kind="stable")
        sorted_code = code[order]
        boundary = np.ones(len(order), dtype=bool)
        boundary[1:] = sorted_code[1:] != sorted_code[:-1]
    first = np.flatnonzero(boundary)
    rows = order[first]
    return order, first, grain[rows], pool[rows], key[rows]


def estimated_rows(starts_s: I64, pool: Ints, pools: Sequence[str], estimated: set[tuple[int, str]]) -> Mask:
    """The old ``lines._estimated_rows``: an ``isin`` over every row."""
    pool_code = {name: i for i, name in enumerate(pools)}
    codes = [ts * len(pools) + pool_code[p] for ts, p in estimated if p in pool_code]
    if not codes:
        return np.zeros(len(starts_s), dtype=bool)
    return np.isin(starts_s * len(pools) + pool.astype(np.int64), np.array(codes, dtype=np.int64))


def fsums(values: F64, order: I64, first: I64) -> F64:
    """The old token-seconds sums: one list of every value, ``fsum`` per group."""
    seconds = values[order].tolist()
    bounds = [*first.tolist(), len(order)]
    return np.array([_normal(math.fsum(seconds[lo:hi])) for lo, hi in pairwise(bounds)], dtype=np.float64)
