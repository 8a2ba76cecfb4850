"""The job's GPU telemetry: the ``gpu_counts`` rows as columns, one conversion of the driver's tuples.

A month holds a few rows per interval and pool; the inventory split (:mod:`attribution.model.vectorized_
inventory`) reads them as arrays. ``IntervalTelemetry`` (dicts per interval) is the shape tests and the
truth model write by hand; :func:`telemetry_columns` turns it into the same columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from attribution.model.split import LineKey, Usage
from attribution.model.vectorized_kernels import I64
from attribution.store.inputs import GPU_COUNT_COLUMNS

#: Positions in a ``gpu_counts`` row (:data:`attribution.store.inputs.GPU_COUNT_COLUMNS`).
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
UNALLOCATED = "\x00unallocated"
UNMEASURED = "\x00unmeasured"


@dataclass(slots=True)
class IntervalTelemetry:
    gpus: dict[tuple[str, str], int]
    """(gpu_type, pool or UNALLOCATED) -> GPUs sampled."""
    usage: dict[str, dict[LineKey, Usage]]
    """Tenant usage as objects: the row path of tests and the truth model (the job reads columns)."""
    memory: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(gpu_type, pool or UNALLOCATED) -> (GPUs whose dcgm FB gauges were all reported, their MiB)."""
    shares: dict[tuple[str, str], int] = field(default_factory=dict)
    """(gpu_type, pool, UNALLOCATED or UNMEASURED) -> parts of MIG and shared GPUs, in ppm of a GPU."""
    power: dict[str, tuple[int, int]] = field(default_factory=dict)
    """gpu_type -> (whole GPUs whose board power dcgm reported, the sum of it in milliwatts)."""


@dataclass(slots=True)
class TelemetryColumns:
    """One row per telemetry row of a catalogued GPU type, unaggregated (rows of one interval, type and
    place add up where they are read). Counts are non-negative. ``measured_mib`` is 0 where no GPU was
    measured and ``milliwatts`` 0 where none was powered: only measured GPUs' MiB count, as only powered
    GPUs' milliwatts do."""

    types: list[str]
    """GPU type names, sorted: ``gpu_type`` indexes them."""
    places: list[str]
    """Pools, ``UNALLOCATED`` and ``UNMEASURED`` as far as seen, sorted: ``place`` indexes them."""
    start_s: I64
    gpu_type: I64
    place: I64
    gpus: I64
    share_ppm: I64
    measured_gpus: I64
    measured_mib: I64
    powered_gpus: I64
    milliwatts: I64
    seen: I64
    """1 where the row makes its place one of its type's places (GPUs or parts seen, or a hand-written
    entry for them, even of 0), else 0 (a row with memory or power only)."""
    usage: dict[int, dict[str, dict[LineKey, Usage]]] = field(default_factory=dict)
    """Usage carried by rows (tests, the truth model), by interval and pool; the job reads columns."""

    def sampled_types(self) -> set[str]:
        """Types with whole GPUs or parts seen in some interval."""
        return {self.types[int(k)] for k in np.unique(self.gpu_type[self.seen != 0])}


def _codes(values: Sequence[str]) -> tuple[list[str], I64]:
    names = sorted(set(values))
    code = {name: i for i, name in enumerate(names)}
    return names, np.array([code[v] for v in values], dtype=np.int64)


def _columns(
    rows: list[tuple[Any, ...]], usage: dict[int, dict[str, dict[LineKey, Usage]]]
) -> TelemetryColumns:
    """Columns from (start, type, place, gpus, share, measured, mib, powered, milliwatts, seen) tuples."""
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * 10
    types, type_code = _codes(cols[1])
    places, place_code = _codes(cols[2])
    ts, gpus, share, measured, mib, powered, mw, seen = (_ints(c) for c in (cols[0], *cols[3:]))
    return _checked(
        TelemetryColumns(
            types, places, ts, type_code, place_code, gpus, share, measured, mib, powered, mw, seen, usage
        )
    )


def _checked(columns: TelemetryColumns) -> TelemetryColumns:
    if any(
        bool((getattr(columns, c) < 0).any()) for c in ("gpus", "share_ppm", "measured_gpus", "powered_gpus")
    ):
        raise ValueError("negative GPU counts in the telemetry")
    return columns


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


def group_telemetry(gpu_count_rows: Sequence[Any], usage_rows: Sequence[Any] = ()) -> TelemetryColumns:
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


def telemetry_columns(telemetry: dict[int, IntervalTelemetry]) -> TelemetryColumns:
    """The columns of hand-written telemetry: a row per (type, place) of an interval, and a row per type
    for its power (no GPUs, so it weighs nothing in the split)."""
    rows: list[tuple[Any, ...]] = []
    for ts, tel in telemetry.items():
        for key in {*tel.gpus, *tel.shares, *tel.memory}:
            measured, mib = tel.memory.get(key, (0, 0))
            seen = key in tel.gpus or key in tel.shares
            rows.append((ts, *key, tel.gpus.get(key, 0), tel.shares.get(key, 0), measured, mib, 0, 0, seen))
        for gpu_type, (powered, mw) in tel.power.items():
            rows.append((ts, gpu_type, UNALLOCATED, 0, 0, 0, 0, powered, mw, False))
    usage = {ts: tel.usage for ts, tel in telemetry.items() if tel.usage}
    return _columns(rows, usage)
