"""The KV samples' consumers as they read the driver's tuples before
:mod:`attribution.store.kv_sample_columns`: the oracle of :func:`attribution.ledger.kv_columns._samples` and
:func:`attribution.ledger.incident_columns._engines`, which now read ``KvSampleColumns``.

Kept verbatim (renamed) from main at 2bd0fa3, so the columns can be checked against them on any rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from attribution.ledger.kv_columns import Samples
from attribution.model.vectorized_kernels import I64, Mask
from attribution.store.inputs import KV_SAMPLE_COLUMNS

#: Positions in a ``kv_samples`` row (:data:`attribution.store.inputs.KV_SAMPLE_COLUMNS`).
KV_TS, KV_POOL, KV_CAPACITY = (
    KV_SAMPLE_COLUMNS.index(name) for name in ("interval_start_s", "pool", "kv_capacity_tokens")
)


def _int_column(rows: Sequence[Any], at: int) -> I64:
    return np.array([r[at] for r in rows], dtype=np.int64)


def _codes(values: npt.NDArray[np.object_]) -> tuple[list[Any], I64]:
    """Names sorted (code point order, as Python sorts ``str``) and each value's code; sorted as fixed-width
    strings, which numpy compares in C rather than through Python objects."""
    names, code = np.unique(values.astype(str), return_inverse=True)
    return list(names.tolist()), code.astype(np.int64).reshape(-1)


def _is_none(column: npt.NDArray[np.object_]) -> Mask:
    none: Any = None
    return np.asarray(np.equal(column, none), dtype=np.bool_)


def _optional_ints(column: npt.NDArray[np.object_]) -> tuple[I64, Mask]:
    given = ~_is_none(column)
    return np.where(given, column, 0).astype(np.int64), given


def tuple_samples(kv_rows: Sequence[Any], grid: tuple[int, int, int]) -> Samples | None:
    if not kv_rows:
        return None
    t0, t1, step = grid
    ts_col, pool_col, engine_col, ratio_col, tokens_col, bpt_col, running_col = zip(*kv_rows, strict=True)
    ts = np.array(ts_col, dtype=np.int64)
    keep = np.flatnonzero((ts >= t0) & (ts < t1) & ((ts - t0) % step == 0))
    if keep.size == 0:
        return None
    pools, pool = _codes(np.array(pool_col, dtype=object)[keep])
    _, engine = _codes(np.array(engine_col, dtype=object)[keep])
    ts = ts[keep]
    order = np.lexsort((engine, ts, pool))
    keep = keep[order]
    tokens, reports = _optional_ints(np.array(tokens_col, dtype=object)[keep])
    bpt, _ = _optional_ints(np.array(bpt_col, dtype=object)[keep])
    running_obj = np.array(running_col, dtype=object)[keep]
    running = np.where(_is_none(running_obj), math.nan, running_obj).astype(np.float64)
    ratio = np.array(ratio_col, dtype=np.float64)[keep]
    return Samples(ts[order], pools, pool[order], ratio, tokens, reports, bpt, running)


def tuple_engines(
    kv_rows: Sequence[Any], rows_of: Callable[[list[str], I64, I64], I64], n: int
) -> tuple[I64, I64, I64]:
    """Per row: KV samples, their summed capacity (tokens), and how many reported a capacity."""
    engines, capacity, known = (np.zeros(n, dtype=np.int64) for _ in range(3))
    if not kv_rows or n == 0:
        return engines, capacity, known
    names = sorted({str(r[KV_POOL]) for r in kv_rows})
    name_code = {name: i for i, name in enumerate(names)}
    pool = np.array([name_code[str(r[KV_POOL])] for r in kv_rows], dtype=np.int64)
    row = rows_of(names, pool, _int_column(kv_rows, KV_TS))
    reported = np.array([r[KV_CAPACITY] is not None for r in kv_rows], dtype=np.bool_)
    tokens = np.array([r[KV_CAPACITY] or 0 for r in kv_rows], dtype=np.int64)
    mine = row >= 0
    np.add.at(engines, row[mine], 1)
    with_capacity = mine & reported
    np.add.at(known, row[with_capacity], 1)
    np.add.at(capacity, row[with_capacity], tokens[with_capacity])
    return engines, capacity, known
