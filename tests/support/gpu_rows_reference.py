"""The GPU counts' consumers as they read the driver's tuples before :mod:`attribution.store.gpu_columns`:
the oracle of :func:`attribution.ledger.telemetry.group_telemetry` and
:func:`attribution.ledger.incident_columns.detection_columns`, which now read ``GpuCountColumns``.

Kept verbatim (renamed) from main at 2bd0fa3, so the columns can be checked against them on any rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from attribution.ledger.telemetry import UNALLOCATED, UNMEASURED, TelemetryColumns, _checked
from attribution.model.split import LineKey, Usage
from attribution.model.vectorized_incidents import PoolIntervalColumns
from attribution.model.vectorized_kernels import I64
from attribution.model.vectorized_usage import UsageColumns
from attribution.store.gpu_columns import SUMS, GpuCountColumns
from attribution.store.inputs import GPU_COUNT_COLUMNS, KV_SAMPLE_COLUMNS

AT_START, AT_TYPE, AT_POOL, AT_UNPLACED, AT_GPUS, AT_SHARE, AT_MEASURED, AT_MIB, AT_POWERED, AT_MW = (
    GPU_COUNT_COLUMNS.index(name)
    for name in (
        "interval_start_s",
        "gpu_type",
        "pool",
        "unplaced",
        "gpus",
        "share_ppm",
        "measured_gpus",
        "measured_mib",
        "powered_gpus",
        "milliwatts",
    )
)
GPU_TS, GPU_POOL, GPU_FB_USED, GPU_FB_ROWS = (
    GPU_COUNT_COLUMNS.index(name) for name in ("interval_start_s", "pool", "fb_used_bytes", "fb_used_rows")
)

#: Positions in a ``kv_samples`` row (:data:`attribution.store.inputs.KV_SAMPLE_COLUMNS`).
KV_TS, KV_POOL, KV_CAPACITY = (
    KV_SAMPLE_COLUMNS.index(name) for name in ("interval_start_s", "pool", "kv_capacity_tokens")
)


def _ints(column: Sequence[Any]) -> I64:
    """A count column; None (nothing reported) is 0."""
    if None in column:
        column = [v or 0 for v in column]
    return np.array(column, dtype=np.int64).reshape(-1)


def _int_column(rows: Sequence[Any], at: int) -> I64:
    """Position ``at`` of every row as int64, without a list in between; None (nothing reported) is 0."""
    try:
        return np.fromiter(map(itemgetter(at), rows), dtype=np.int64, count=len(rows))
    except TypeError:
        return _ints([r[at] for r in rows])


def _code_column(column: Sequence[Any], code: dict[Any, int]) -> I64:
    return np.fromiter(map(code.__getitem__, column), dtype=np.int64, count=len(column))


def tuple_group_telemetry(gpu_count_rows: Sequence[Any], usage_rows: Sequence[Any] = ()) -> TelemetryColumns:
    """``gpu_counts`` rows (Unix-second starts), in the column order of
    :data:`attribution.store.inputs.GPU_COUNT_COLUMNS`, as columns, converted a column at a time (a month
    is a million rows); rows of a type outside the catalog (``gpu_type`` None) are not on the bill
    (incident detection reads them from the rows). A part the collector could not place is
    ``UNMEASURED``, a GPU serving no pool (None or "") ``UNALLOCATED``. Only measured GPUs' MiB and
    powered GPUs' milliwatts count. ``usage_rows`` (``tenant_usage``'s order) is the row path of tests:
    the job reads usage as columns instead."""
    rows = gpu_count_rows
    type_col, pool_col = (list(map(itemgetter(at), rows)) for at in (AT_TYPE, AT_POOL))
    types = sorted(t for t in set(type_col) if t is not None)
    type_code = _code_column(type_col, {None: -1, **{t: i for i, t in enumerate(types)}})
    unplaced = np.fromiter(map(bool, map(itemgetter(AT_UNPLACED), rows)), dtype=np.bool_, count=len(rows))
    place_of = {p: p or UNALLOCATED for p in set(pool_col)}
    places = sorted({*place_of.values(), *([UNMEASURED] if unplaced.any() else [])})
    index = {name: i for i, name in enumerate(places)}
    place_code = _code_column(pool_col, {p: index[name] for p, name in place_of.items()})
    if unplaced.any():
        place_code[unplaced] = index[UNMEASURED]
    gpus, share, measured, powered = (
        _int_column(rows, at) for at in (AT_GPUS, AT_SHARE, AT_MEASURED, AT_POWERED)
    )
    mib = np.where(measured != 0, _int_column(rows, AT_MIB) if measured.any() else 0, 0)
    milliwatts = np.where(powered != 0, _int_column(rows, AT_MW) if powered.any() else 0, 0)
    seen = ((gpus != 0) | (share != 0)).astype(np.int64)
    at = type_code >= 0
    usage: dict[int, dict[str, dict[LineKey, Usage]]] = defaultdict(dict)
    for ts, pool, tenant, tier, requests, prompt, generation, token_seconds in usage_rows:
        cell = usage[ts].setdefault(pool, {})
        cell[(tenant, tier)] = Usage(float(token_seconds), int(requests), int(prompt), int(generation))
    columns = TelemetryColumns(
        types,
        places,
        _int_column(rows, AT_START)[at],
        type_code[at],
        place_code[at],
        gpus[at],
        share[at],
        measured[at],
        mib[at],
        powered[at],
        milliwatts[at],
        seen[at],
        dict(usage),
    )
    return _checked(columns)


def _rows_int_column(rows: Sequence[Any], at: int) -> I64:
    return np.array([r[at] for r in rows], dtype=np.int64)


def tuple_detection_columns(
    gpu_rows: Sequence[Any], kv_rows: Sequence[Any], usage: Sequence[UsageColumns]
) -> PoolIntervalColumns:
    """One row per (pool, interval) of the ``gpu_counts`` rows with a pool (GPUs of any type, or of none),
    by pool then start; the KV samples and usage of other pool-intervals are not read (no GPUs: never an
    incident). ``usage``: the usage columns of the spans the rows cover."""
    placed = [r for r in gpu_rows if r[GPU_POOL] is not None]
    pools = sorted({str(r[GPU_POOL]) for r in placed})
    code = {name: i for i, name in enumerate(pools)}
    ts = _rows_int_column(placed, GPU_TS)
    times = np.unique(ts)
    width = max(times.size, 1)

    def key(pool: I64, starts: I64) -> I64:
        """Each (pool code, start)'s key, -1 where the start has no GPU row."""
        at = np.minimum(np.searchsorted(times, starts), max(times.size - 1, 0))
        hit = (pool >= 0) & (times[at] == starts) if times.size else np.zeros(starts.size, dtype=np.bool_)
        return np.where(hit, pool * width + at, -1)

    gpu_key = key(np.array([code[str(r[GPU_POOL])] for r in placed], dtype=np.int64), ts)
    keys, inverse = np.unique(gpu_key, return_inverse=True)
    inverse = inverse.reshape(-1)
    fb_used, fb_rows = np.zeros(keys.size, dtype=np.int64), np.zeros(keys.size, dtype=np.int64)
    np.add.at(fb_used, inverse, _rows_int_column(placed, GPU_FB_USED))
    np.add.at(fb_rows, inverse, _rows_int_column(placed, GPU_FB_ROWS))

    def rows_of(names: list[str], pool: I64, starts: I64) -> I64:
        """The row of each (``names[pool]``, start), -1 where none."""
        codes = np.array([code.get(name, -1) for name in names] or [-1], dtype=np.int64)
        wanted = key(codes[pool] if pool.size else pool, starts)
        at = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
        return np.where((wanted >= 0) & (keys[at] == wanted), at, -1) if keys.size else wanted

    engines, capacity, known = _engines(kv_rows, rows_of, keys.size)
    serving = np.zeros(keys.size, dtype=np.bool_)
    for u in usage:
        # not ``> 0``: Postgres orders NaN above every number, so its ``kv_token_seconds > 0`` holds for NaN
        served = np.flatnonzero(~(u.kv_token_seconds <= 0))
        row = rows_of(u.pools, u.pool[served], u.interval_start_s[served])
        serving[row[row >= 0]] = True
    return PoolIntervalColumns(
        pools=pools,
        pool=keys // width,
        start_s=times[keys % width] if keys.size else keys,
        fb_used_bytes=fb_used,
        fb_used_rows=fb_rows,
        engines=engines,
        kv_capacity_tokens=capacity,
        kv_capacity_known=known,
        serving=serving,
    )


def _engines(
    kv_rows: Sequence[Any], rows_of: Callable[[list[str], I64, I64], I64], n: int
) -> tuple[I64, I64, I64]:
    """Per row: KV samples, their summed capacity (tokens), and how many reported a capacity."""
    engines, capacity, known = (np.zeros(n, dtype=np.int64) for _ in range(3))
    if not kv_rows or n == 0:
        return engines, capacity, known
    names = sorted({str(r[KV_POOL]) for r in kv_rows})
    name_code = {name: i for i, name in enumerate(names)}
    pool = np.array([name_code[str(r[KV_POOL])] for r in kv_rows], dtype=np.int64)
    row = rows_of(names, pool, _rows_int_column(kv_rows, KV_TS))
    reported = np.array([r[KV_CAPACITY] is not None for r in kv_rows], dtype=np.bool_)
    tokens = np.array([r[KV_CAPACITY] or 0 for r in kv_rows], dtype=np.int64)
    mine = row >= 0
    np.add.at(engines, row[mine], 1)
    with_capacity = mine & reported
    np.add.at(known, row[with_capacity], 1)
    np.add.at(capacity, row[with_capacity], tokens[with_capacity])
    return engines, capacity, known


def canonical_rows(counts: GpuCountColumns) -> list[tuple[Any, ...]]:
    """The columns as ``gpu_counts``-ordered tuples (names, None for a code of -1), sorted: two readers
    that group the same rows in another order compare equal."""
    types, pools = [*counts.types, None], [*counts.pools, None]
    sums = zip(*(getattr(counts, name).tolist() for name in SUMS), strict=True)
    rows = zip(
        counts.start_s.tolist(),
        (types[i] for i in counts.gpu_type.tolist()),
        (pools[i] for i in counts.pool.tolist()),
        counts.unplaced.tolist(),
        sums,
        strict=True,
    )
    return sorted(((ts, t, p, u, *s) for ts, t, p, u, s in rows), key=repr)
