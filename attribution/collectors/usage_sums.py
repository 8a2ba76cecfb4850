"""The gateway's sums as columns: ``tenant_usage`` rows from every series' increases without a dict per
group, interval and signal, nor one per row.

Each increase lands in a cell (group, interval), a group being one (pool, tenant, tier). A signal's sums
per cell are one ``np.bincount`` with the increases as weights: it adds them one after the other, in the
order given, from 0.0, which is the order (series in answer order) and the arithmetic of the dict sums it
replaced, so every sum is the same double. A cell was *seen* when any usage signal had an increase there
(coverage counts it); it is a row only when one of its stored values is not zero: a series that was
scraped but did not move is coverage, not usage (:func:`nonzero`, ``docs/collection.md``). Rows come out
in key order (interval, pool, tenant, tier, text by code point), as the table's primary key and the COPY
want them; the seen cells that are not rows come out as keys, whose stored rows a re-collection deletes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.batch import RowColumns
from attribution.store.column_copy import ColumnValues, Names

#: The usage counters, in ``tenant_usage``'s column order; the first three are whole numbers.
USAGE = ("requests", "prompt_tokens", "generation_tokens", "kv_token_seconds")
#: The largest magnitude a float converts to int64 exactly after rounding.
_INT64_LIMIT = 2.0**63


@dataclass(frozen=True, slots=True)
class UsageCells:
    """The gateway's cells of one window: ``rows``, those with a value to store, and ``zeros``, the keys
    (``interval_start``, ``pool``, ``tenant``, ``tier``) of those seen with nothing to store."""

    rows: RowColumns
    zeros: RowColumns

    def seen_per_interval(self) -> dict[datetime, int]:
        """Cells seen per interval start, rows or not: the coverage's count of series."""
        seen = self.rows.per_interval()
        for at, n in self.zeros.per_interval().items():
            seen[at] = seen.get(at, 0) + n
        return seen


def usage_rows(
    cells: Mapping[str, tuple[NDArray[np.int64], NDArray[np.float64]]],
    groups: Sequence[tuple[str, str, str]],
    first_ts: int,
    step: int,
    intervals: int,
) -> UsageCells:
    """``tenant_usage`` columns (without ``cluster``) from each usage signal's ``(cells, increases)``:
    cell ``g * intervals + k`` is group ``groups[g]`` in the interval starting ``first_ts + k * step``.
    Whole-number signals are rounded half to even, as Python's ``round`` does; a cell whose rounded
    values are all zero is one of the ``zeros``."""
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
    values = {s: sums[s][taken] if s in sums else np.zeros(len(taken)) for s in USAGE}
    stored = {s: v if s == "kv_token_seconds" else _rounded(v) for s, v in values.items()}
    kept = nonzero(stored)
    names = [[g[i] for g in groups] for i in range(3)]

    def keys(mask: NDArray[np.bool_]) -> dict[str, ColumnValues]:
        g = group[mask]
        return {
            "interval_start": first_ts + k[mask] * step,
            "pool": Names(g, names[0]),
            "tenant": Names(g, names[1]),
            "tier": Names(g, names[2]),
        }

    rows = RowColumns({**keys(kept), **{s: v[kept] for s, v in stored.items()}}, int(np.count_nonzero(kept)))
    return UsageCells(rows, RowColumns(keys(~kept), len(taken) - rows.rows))


def nonzero(stored: Mapping[str, Any]) -> NDArray[np.bool_]:
    """Per row of the stored usage columns (``USAGE``, whole numbers already rounded): whether any is
    not zero. Only those are ``tenant_usage`` rows: an all-zero row weighs nothing in any split (a split
    takes KV token-seconds above zero) and counts no tokens, and at 50 tenants on 64 GPUs two fifths of
    the gateway's cells were such rows, written and read again for nothing."""
    out: NDArray[np.bool_] = np.zeros(len(stored[USAGE[0]]), dtype=bool)
    for signal in USAGE:
        out |= np.asarray(stored[signal]) != 0
    return out


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


def split_zeros(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], RowColumns]:
    """Usage rows as dicts (the gateway's other path) cut as :func:`usage_rows` cuts its cells: those
    with a value to store, in their order, and the keys of the others as columns."""
    stored = {s: np.array([r[s] for r in rows], dtype=np.float64) for s in USAGE}
    kept = nonzero(stored).tolist()
    zeros = [r for r, keep in zip(rows, kept, strict=True) if not keep]
    columns: dict[str, ColumnValues] = {
        "interval_start": np.array([round(r["interval_start"].timestamp()) for r in zeros], dtype=np.int64)
    }
    for name in ("pool", "tenant", "tier"):
        names = sorted({r[name] for r in zeros})
        code = {n: i for i, n in enumerate(names)}
        columns[name] = Names(np.array([code[r[name]] for r in zeros], dtype=np.int64), names)
    return [r for r, keep in zip(rows, kept, strict=True) if keep], RowColumns(columns, len(zeros))
