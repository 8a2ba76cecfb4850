"""The GPU counts of a window as columns: ``gpu_counts``' sums per (interval, GPU type, pool, placement),
built without a Python tuple per group.

A day of the full fleet is 1.47 M ``gpu_samples`` rows that Postgres grouped into ~0.5 M groups of twelve
values, which the driver built as half a million tuples (six million Python objects) before they became
columns again. On Postgres the rows are now grouped by (type, pool, placement) only, a few hundred groups,
each sending its rows' values as fixed-width binary records end to end (``string_agg``, as the usage
reader does), and numpy sums them per interval: the same sums, as integers, as
:func:`attribution.store.inputs.gpu_counts` computes (each whole GPU's framebuffer rounded to whole MiB,
half up, in Postgres' own expression; NULLs counted and summed as its aggregates do). Where int64 cannot be
proven to hold a sum (values near 2**63 / rows), the SQL path reads the slice instead, and raises where it
would. SQLite (the demo) keeps the SQL path; :func:`gpu_count_columns_from_rows` turns its rows into the
same columns, and is the reference the Postgres reader is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from attribution.model.vectorized_kernels import I64
from attribution.model.vocabulary import DEFAULT_CLUSTER
from attribution.store.columns import (
    SLICE_SECONDS,
    epoch_seconds,
    hashed_grouping,
    name_codes,
    recoded,
    records_of,
)
from attribution.store.dialect import is_postgres
from attribution.store.inputs import GPU_COUNT_COLUMNS, gpu_counts
from attribution.timeutil import windows_of

Bools = npt.NDArray[np.bool_]

SUMS = GPU_COUNT_COLUMNS[4:]
"""The summed columns, in ``gpu_counts``' order: gpus, share_ppm, measured_gpus, measured_mib,
powered_gpus, milliwatts, fb_used_bytes, fb_used_rows."""


@dataclass(frozen=True, slots=True)
class GpuCountColumns:
    """``gpu_counts``' rows as columns, in no particular order. ``types`` and ``pools`` are sorted and
    hold only names some row uses; a code of -1 is None (a type outside the catalog, a GPU serving no
    pool). A count reported as None (hand-written rows) is 0."""

    types: list[str]
    pools: list[str]
    start_s: I64
    gpu_type: I64
    pool: I64
    unplaced: Bools
    gpus: I64
    share_ppm: I64
    measured_gpus: I64
    measured_mib: I64
    powered_gpus: I64
    milliwatts: I64
    fb_used_bytes: I64
    fb_used_rows: I64

    def __len__(self) -> int:
        return int(self.start_s.size)


def gpu_count_columns(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> GpuCountColumns:
    """The GPU counts of ``[start, end)`` in ``cluster``: Postgres' records summed by numpy a slice of
    :data:`SLICE_SECONDS` at a time (a bytea per group stays far below Postgres' 1 GB), or SQLite's rows."""
    if not is_postgres(session):
        return gpu_count_columns_from_rows(gpu_counts(session, start, end, cluster))
    parts: list[GpuCountColumns] = []
    with hashed_grouping(session):
        for at, stop in windows_of(start, end, timedelta(seconds=SLICE_SECONDS)):
            parts.append(_slice(session, at, stop, cluster))
    return concatenated(parts)


_RECORDS = """
SELECT gpu_type, pool, problem IS NOT NULL AS unplaced, count(*) AS n,
       string_agg(
           timestamptz_send(interval_start)
           || int8send(coalesce(gpu_share_ppm, 0))
           || int8send(coalesce((CASE WHEN gpu_share_ppm IS NULL
                                      THEN fb_used_bytes + fb_free_bytes + fb_reserved_bytes END
                                 + 524288) / 1048576, 0))
           || int8send(coalesce(power_milliwatts, 0))
           || int8send(coalesce(fb_used_bytes, 0))
           || int2send(((gpu_share_ppm IS NULL)::int
                        + 2 * (fb_used_bytes IS NOT NULL AND fb_free_bytes IS NOT NULL
                               AND fb_reserved_bytes IS NOT NULL)::int
                        + 4 * (fb_used_bytes IS NOT NULL)::int
                        + 8 * (power_milliwatts IS NOT NULL)::int)::int2),
           ''::bytea) AS records
FROM gpu_samples
WHERE interval_start >= %(start)s AND interval_start < %(end)s AND cluster = %(cluster)s
GROUP BY gpu_type, pool, problem IS NOT NULL
"""
"""Each group's rows as 42-byte big-endian records (:data:`_RECORD`). The MiB are ``gpu_counts``' own
expression for a whole GPU (0 for a part, or where a gauge is missing); the flags say what was NULL."""

_RECORD = np.dtype(
    [("us", ">i8"), ("share", ">i8"), ("mib", ">i8"), ("mw", ">i8"), ("used", ">i8"), ("flags", ">i2")]
)
WHOLE, MEASURED, USED, POWERED = 1, 2, 4, 8
"""Flag bits: a whole GPU (no share), all three FB gauges reported, FB_USED reported, power reported."""


def _slice(session: Session, start: datetime, end: datetime, cluster: str) -> GpuCountColumns:
    groups = records_of(session, _RECORDS, {"start": start, "end": end, "cluster": cluster})
    sizes = [int(g[3]) for g in groups]
    records = np.frombuffer(b"".join(g[4] for g in groups), dtype=_RECORD)
    if records.size != sum(sizes):
        raise ValueError(f"expected {sum(sizes)} GPU records, got {records.size}")
    flags = records["flags"].astype(np.int64)
    whole = (flags & WHOLE) != 0
    measured = whole & ((flags & MEASURED) != 0)
    powered = whole & ((flags & POWERED) != 0)
    values = {
        "gpus": whole.astype(np.int64),
        "share_ppm": records["share"].astype(np.int64),
        "measured_gpus": measured.astype(np.int64),
        "measured_mib": np.where(measured, records["mib"], 0).astype(np.int64),
        "powered_gpus": powered.astype(np.int64),
        "milliwatts": np.where(powered, records["mw"], 0).astype(np.int64),
        "fb_used_bytes": records["used"].astype(np.int64),
        "fb_used_rows": ((flags & USED) != 0).astype(np.int64),
    }
    if not _sums_fit(values, records.size):
        return gpu_count_columns_from_rows(gpu_counts(session, start, end, cluster))
    group = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
    first, order = _runs(group, records["us"].astype(np.int64))
    sums = {name: np.add.reduceat(v[order], first) if first.size else v[:0] for name, v in values.items()}
    at = group[order][first]
    names = [(g[0], g[1]) for g in groups]
    types, type_code = name_codes([n[0] for n in names])
    pools, pool_code = name_codes([n[1] for n in names])
    return GpuCountColumns(
        types,
        pools,
        epoch_seconds(records["us"].astype(np.int64)[order][first]),
        type_code[at],
        pool_code[at],
        np.array([bool(g[2]) for g in groups], dtype=np.bool_)[at] if groups else np.zeros(0, np.bool_),
        *(sums[name] for name in SUMS),
    )


def _sums_fit(values: dict[str, I64], n: int) -> bool:
    """Whether every sum of up to ``n`` of these values fits int64, as Postgres' exact ``numeric`` sums
    cast to ``bigint`` do unless they overflow (then the SQL path raises as it always did)."""
    limit = np.iinfo(np.int64).max // max(n, 1)
    return all(v.size == 0 or (int(v.max()) <= limit and int(v.min()) >= -limit) for v in values.values())


def _runs(group: I64, us: I64) -> tuple[I64, I64]:
    """The rows ordered by (group, interval) and where each run of equal (group, interval) begins.

    A group's rows come in the order its aggregate was fed them: by interval when Postgres scanned the
    primary key (the usual plan), so only a group whose intervals are out of order costs a sort."""
    n = group.size
    new_group = np.ones(n, dtype=np.bool_)
    new_group[1:] = group[1:] != group[:-1]
    steps = np.diff(us)
    if bool(np.all((steps >= 0) | new_group[1:])):
        order = np.arange(n, dtype=np.int64)
    else:
        order = np.lexsort((us, group))
        group, us = group[order], us[order]
        new_group[1:] = group[1:] != group[:-1]
    starts = new_group.copy()
    starts[1:] |= us[1:] != us[:-1]
    return np.flatnonzero(starts), order


def gpu_count_columns_from_rows(rows: Sequence[Any]) -> GpuCountColumns:
    """Columns of ``gpu_counts`` rows (the driver's tuples in :data:`GPU_COUNT_COLUMNS` order; None counts
    as 0), converted a column at a time."""
    types, type_code = name_codes(list(map(itemgetter(1), rows)))
    pools, pool_code = name_codes(list(map(itemgetter(2), rows)))
    unplaced = np.fromiter(map(bool, map(itemgetter(3), rows)), dtype=np.bool_, count=len(rows))
    ints = [_int_column(rows, at) for at in (0, *range(4, len(GPU_COUNT_COLUMNS)))]
    return GpuCountColumns(types, pools, ints[0], type_code, pool_code, unplaced, *ints[1:])


def _int_column(rows: Sequence[Any], at: int) -> I64:
    """Position ``at`` of every row as int64, without a list in between; None (nothing reported) is 0."""
    try:
        return np.fromiter(map(itemgetter(at), rows), dtype=np.int64, count=len(rows))
    except TypeError:
        return np.array([r[at] or 0 for r in rows], dtype=np.int64).reshape(-1)


def concatenated(parts: Sequence[GpuCountColumns]) -> GpuCountColumns:
    """The rows of ``parts`` one after the other, their names coded anew."""
    types = sorted({name for p in parts for name in p.types})
    pools = sorted({name for p in parts for name in p.pools})

    def joined(arrays: list[I64]) -> I64:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)

    return GpuCountColumns(
        types,
        pools,
        joined([p.start_s for p in parts]),
        joined([recoded(p.types, types, p.gpu_type) for p in parts]),
        joined([recoded(p.pools, pools, p.pool) for p in parts]),
        np.concatenate([p.unplaced for p in parts]) if parts else np.zeros(0, dtype=np.bool_),
        *(joined([getattr(p, name) for p in parts]) for name in SUMS),
    )
