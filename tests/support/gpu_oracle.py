"""The GPU collector as it was before its rows became columns (a dict per row, every series grouped per
GPU and interval in Python): the oracle of tests/collectors/test_gpu_columns.py, which checks that
:func:`attribution.collectors.gpu.collect_gpu` gives the same rows, coverage and unplaced intervals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from attribution.catalog import GpuSpec
from attribution.collectors.answers import Series
from attribution.collectors.batch import Batch
from attribution.collectors.gpu import Meta, _by_series, _interval_first, _per_gpu, _reading, _rows
from attribution.collectors.gpu_units import Reading
from attribution.collectors.labels import GpuSelectors, first_label
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, utc_from_seconds
from attribution.config import Settings
from attribution.store.tables import GpuSample


def collect_gpu_dicts(
    client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime
) -> Batch:
    """Rows for ``gpu_samples`` over ``[start, end)``: one per part of each GPU and interval."""
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end

    def read(signal: str) -> list[Series]:
        query = plan.query(signal, step)
        return [] if query is None else client.range_query(query, first, last, step)

    used, free_s, util_s, reserved_s, power_s = client.map(
        read, ("fb_used_bytes", "fb_free_bytes", "gpu_util_percent", "fb_reserved_bytes", "power_watts")
    )
    free, util, reserved = (_by_series(s, plan) for s in (free_s, util_s, reserved_s))
    power = _per_gpu(power_s, plan)
    gpus: dict[tuple[str, int], list[tuple[Reading, float, Meta]]] = {}
    written: list[dict[str, Any]] = []
    batch = Batch(GpuSample, written)
    starts: dict[int, datetime] = {}
    selectors = GpuSelectors(settings.pools)
    for series in used:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        reading = _reading(selectors, series.labels, 0.0)
        meta = (
            first_label(series.labels, plan.labels.gpu_model) or "",
            first_label(series.labels, plan.labels.hostname) or "",
        )
        for ts, value in series.points:
            if ts not in starts:
                starts[ts] = utc_from_seconds(ts - step)
            batch.saw(starts[ts])
            gpus.setdefault((uuid, ts), []).append((reading, value, meta))
    specs: dict[str, GpuSpec | None] = {}
    match_gpu = settings.catalog.match_gpu
    for (uuid, ts), readings in sorted(gpus.items(), key=_interval_first):
        interval_start = starts[ts]
        rows = _rows(uuid, ts, interval_start, readings, (free, util, reserved), specs, match_gpu)
        watts = power.get((uuid, ts))
        for row in rows:
            row["power_milliwatts"] = None if watts is None else round(watts * 1000)
            if row["problem"] is not None:
                batch.unplaced.add(interval_start)
        written.extend(rows)
    return batch
