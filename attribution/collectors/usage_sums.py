"""The gateway's sums as columns: ``tenant_usage`` rows from every series' increases without a dict per
group, interval and signal, nor one per row.

Each increase lands in a cell (group, interval), a group being one (pool, tenant, tier). A signal's sums
per cell are one ``np.bincount`` with the increases as weights: it adds them one after the other, in the
order given, from 0.0, which is the order (series in answer order) and the arithmetic of the dict sums it
replaced, so every sum is the same double. A cell is a row when any usage signal had an increase there;
rows come out in key order (interval, pool, tenant, tier, text by code point), as the table's primary key
and the COPY want them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.batch import RowColumns
from attribution.store.column_copy import ColumnValues, Names

#: The usage counters, in ``tenant_usage``'s column order; the first three are whole numbers.
USAGE = ("requests", "prompt_tokens", "generation_tokens", "kv_token_seconds")
#: The largest magnitude a float converts to int64 exactly after rounding.
_INT64_LIMIT = 2.0**63


def usage_rows(
    cells: Mapping[str, tuple[NDArray[np.int64], NDArray[np.float64]]],
    groups: Sequence[tuple[str, str, str]],
    first_ts: int,
    step: int,
    intervals: int,
) -> RowColumns:
    """``tenant_usage`` columns (without ``cluster``) from each usage signal's ``(cells, increases)``:
    cell ``g * intervals + k`` is group ``groups[g]`` in the interval starting ``first_ts + k * step``.
    Whole-number signals are rounded half to even, as Python's ``round`` does."""
    size = len(groups) * intervals
    present = np.zeros(size, dtype=bool)
    sums: dict[str, NDArray[Any]] = {}
    for signal in USAGE:
        if signal in cells:
            where, increases = cells[signal]
            sums[signal] = np.bincount(where, weights=increases, minlength=size)
            present |= np.bincount(where, minlength=size) > 0
    cell = np.flatnonzero(present)
    group, k = cell // intervals, cell % intervals
    order = np.argsort(k * len(groups) + _key_rank(groups)[group])  # interval, then (pool, tenant, tier)
    taken, group, k = cell[order], group[order], k[order]
    columns: dict[str, ColumnValues] = {
        "interval_start": first_ts + k * step,
        "pool": Names(group, [g[0] for g in groups]),
        "tenant": Names(group, [g[1] for g in groups]),
        "tier": Names(group, [g[2] for g in groups]),
    }
    for signal in USAGE:
        values = sums[signal][taken] if signal in sums else np.zeros(len(taken))
        columns[signal] = values if signal == "kv_token_seconds" else _rounded(values)
    return RowColumns(columns, len(taken))


def _key_rank(groups: Sequence[tuple[str, str, str]]) -> NDArray[np.int64]:
    """Each group's place in (pool, tenant, tier) order."""
    rank = np.empty(len(groups), dtype=np.int64)
    rank[sorted(range(len(groups)), key=groups.__getitem__)] = np.arange(len(groups))
    return rank


def _rounded(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """``round(v)`` of each value as an int64; what ``round`` refuses (NaN, infinity) or an int64 cannot
    hold is refused the same way."""
    if len(values) and not (np.abs(values) < _INT64_LIMIT).all():
        bad = float(values[~(np.abs(values) < _INT64_LIMIT)][0])
        raise OverflowError(f"a usage sum of {bad} is no whole number a row can hold")
    return np.rint(values).astype(np.int64)
