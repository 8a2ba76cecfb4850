"""The job's GPU telemetry: the GPU counts (:mod:`attribution.store.gpu_columns`) as the model's columns.

A month holds a few rows per interval and pool; the inventory split (:mod:`attribution.model.vectorized_
inventory`) reads them as arrays. ``IntervalTelemetry`` (dicts per interval) is the shape tests and the
truth model write by hand; :func:`telemetry_columns` turns it into the same columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attribution.model.split import LineKey, Usage
from attribution.model.vectorized_kernels import I64
from attribution.store.gpu_columns import GpuCountColumns

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


def group_telemetry(counts: GpuCountColumns, usage_rows: Sequence[Any] = ()) -> TelemetryColumns:
    """The GPU counts (:func:`attribution.store.gpu_columns.gpu_count_columns`) as the model's columns;
    rows of a type outside the catalog (code -1) are not on the bill (incident detection reads them). A
    part the collector could not place is ``UNMEASURED``, a GPU serving no pool (None or "")
    ``UNALLOCATED``. Only measured GPUs' MiB and powered GPUs' milliwatts count. ``usage_rows``
    (``tenant_usage``'s order) is the row path of tests: the job reads usage as columns instead."""
    # every pool seen, of any type, is a place (as when the rows were tuples), "" and None unallocated
    place_of = [p or UNALLOCATED for p in counts.pools]
    unplaced = counts.unplaced
    unallocated = [UNALLOCATED] if bool((counts.pool < 0).any()) else []
    places = sorted({*place_of, *unallocated, *([UNMEASURED] if unplaced.any() else [])})
    index = {name: i for i, name in enumerate(places)}
    lookup = np.array([index[name] for name in place_of] + [index.get(UNALLOCATED, -1)], dtype=np.int64)
    place_code = lookup[counts.pool]  # a code of -1 (None) picks the last: UNALLOCATED
    if unplaced.any():
        place_code[unplaced] = index[UNMEASURED]
    gpus, share, measured, powered = counts.gpus, counts.share_ppm, counts.measured_gpus, counts.powered_gpus
    mib = np.where(measured != 0, counts.measured_mib, 0)
    milliwatts = np.where(powered != 0, counts.milliwatts, 0)
    seen = ((gpus != 0) | (share != 0)).astype(np.int64)
    at = counts.gpu_type >= 0
    usage: dict[int, dict[str, dict[LineKey, Usage]]] = defaultdict(dict)
    for ts, pool, tenant, tier, requests, prompt, generation, token_seconds in usage_rows:
        cell = usage[ts].setdefault(pool, {})
        cell[(tenant, tier)] = Usage(float(token_seconds), int(requests), int(prompt), int(generation))
    columns = TelemetryColumns(
        list(counts.types),
        places,
        counts.start_s[at],
        counts.gpu_type[at],
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
