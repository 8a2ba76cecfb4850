"""GPU telemetry (dcgm-exporter by default): which GPUs, MIG instances and shares of shared GPUs were
present in each interval, in which pool.

Each interval ``[t, t + step)`` takes the samples in ``(t, t + step]``: the profile's ``avg_over_time``
over ``$window`` evaluated at ``t + step``. Signals are in canonical units: bytes and percent.

dcgm-exporter may write several series for one GPU ``UUID`` (MIG instances, pods sharing a GPU). They are
grouped per GPU and interval and placed by :func:`attribution.collectors.gpu_units.place_gpu`; the series'
order never matters. A series that cannot be placed is stored with its ``problem`` (its share is billed
to ``__unmeasured__``), logged, and marks the interval ``unplaced`` in the source's coverage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from attribution.catalog import GpuSpec
from attribution.collectors.answers import Series
from attribution.collectors.batch import Batch
from attribution.collectors.gpu_units import Part, Reading, is_whole_gpu, place_gpu, whole_gpu
from attribution.collectors.labels import GpuSelectors, first_label, workload
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, utc_from_seconds
from attribution.config import Settings
from attribution.store.tables import GpuSample

SOURCE = "gpu"
MIG_ID_LABELS = ("GPU_I_ID",)
MIG_PROFILE_LABELS = ("GPU_I_PROFILE",)
SHARED_LABELS = ("vgpu",)
log = logging.getLogger(__name__)

#: (MIG instance id or "", workload or "") of one series of one GPU.
SeriesKey = tuple[str, str]
#: (uuid, unix seconds, MIG instance id or "", workload or "") of one series' value.
SeriesValueKey = tuple[str, int, str, str]
#: (dcgm ``modelName``, host) of one series.
Meta = tuple[str, str]


def collect_gpu(client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime) -> Batch:
    """Rows for ``gpu_samples`` over ``[start, end)``: one per part of each GPU and interval."""
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end

    def read(signal: str) -> list[Series]:
        query = plan.query(signal, step)
        return [] if query is None else client.range_query(query, first, last, step)

    # the five signals side by side (client.map: at most the source's max_concurrent_queries at once)
    used, free_s, util_s, reserved_s, power_s = client.map(
        read, ("fb_used_bytes", "fb_free_bytes", "gpu_util_percent", "fb_reserved_bytes", "power_watts")
    )
    free, util, reserved = (_by_series(s, plan) for s in (free_s, util_s, reserved_s))
    power = _per_gpu(power_s, plan)
    # (uuid, ts) -> the GPU's series in that interval: reading (FB_USED apart), FB_USED, (model name, host)
    gpus: dict[tuple[str, int], list[tuple[Reading, float, Meta]]] = {}
    written: list[dict[str, Any]] = []
    batch = Batch(GpuSample, written)
    starts: dict[int, datetime] = {}
    selectors = GpuSelectors(settings.pools)  # compiled once per chunk, asked once per GPU series
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
    problems: dict[str, int] = {}
    specs: dict[str, GpuSpec | None] = {}  # catalog match per modelName, once per window
    match_gpu = settings.catalog.match_gpu  # a pydantic private attribute: slow to reach once per GPU
    # by interval, then GPU: the table's key order, so the write's sort of the rows is one pass
    for (uuid, ts), readings in sorted(gpus.items(), key=_interval_first):
        interval_start = starts[ts]
        rows = _rows(uuid, ts, interval_start, readings, (free, util, reserved), specs, match_gpu)
        watts = power.get((uuid, ts))
        for row in rows:
            row["power_milliwatts"] = None if watts is None else round(watts * 1000)
            if row["problem"] is not None:
                batch.unplaced.add(interval_start)
                problems[row["problem"]] = problems.get(row["problem"], 0) + 1
        written.extend(rows)
    for problem, n in sorted(problems.items()):
        log.warning("gpu source %s: %d series-interval(s) not placed, billed to __unmeasured__: %s",
                    plan.source.name, n, problem)  # fmt: skip
    return batch


def _interval_first(item: tuple[tuple[str, int], Any]) -> tuple[int, str]:
    (uuid, ts), _ = item
    return ts, uuid


def _reading(selectors: GpuSelectors, labels: Mapping[str, str], fb_used: float) -> Reading:
    pool = selectors.pool_for(labels)
    return Reading(
        mig_id=first_label(labels, MIG_ID_LABELS),
        profile=first_label(labels, MIG_PROFILE_LABELS),
        workload=workload(labels),
        pool=pool.name if pool else None,
        fb_used_bytes=fb_used,
        shared=first_label(labels, SHARED_LABELS) is not None,
    )


def _with_fb(reading: Reading, value: float) -> Reading:
    return Reading(reading.mig_id, reading.profile, reading.workload, reading.pool, value, reading.shared)


def _rows(
    uuid: str,
    ts: int,
    interval_start: datetime,
    readings: list[tuple[Reading, float, Meta]],
    values: tuple[
        Mapping[SeriesValueKey, float], Mapping[SeriesValueKey, float], Mapping[SeriesValueKey, float]
    ],
    specs: dict[str, GpuSpec | None],
    match_gpu: Callable[[str], GpuSpec | None],
) -> list[dict[str, Any]]:
    """One GPU's rows in one interval; ``values`` are FB_FREE, GPU_UTIL and FB_RESERVED by series. Labels
    shared by the GPU's series (model, host) are taken in sorted order, so that no series' position
    decides them."""
    if len(readings) == 1:
        names, host = [readings[0][2][0]], readings[0][2][1]
    else:
        names = sorted({name for _, _, (name, _) in readings})
        host = max(host for _, _, (_, host) in readings)
    free, util, reserved = values
    gpu = None
    if len(names) == 1:
        gpu = specs[names[0]] if names[0] in specs else specs.setdefault(names[0], match_gpu(names[0]))
    if len(readings) == 1 and is_whole_gpu(readings[0][0]):
        parts = [whole_gpu(readings[0][0], readings[0][1])]  # place_gpu's answer, without a Reading
    else:
        parts = place_gpu([_with_fb(r, fb) for r, fb, _ in readings], gpu.memory_bytes if gpu else None)
    if len(names) > 1:
        problem = f"series of one UUID name several GPU models: {', '.join(names)}"
        parts = [Part(p.part, None, p.share_ppm, problem, None, p.series) for p in parts]
    return [
        {
            "interval_start": interval_start,
            "gpu_uuid": uuid,
            "part": p.part,
            "hostname": host,
            "gpu_model_name": names[0] if len(names) == 1 else " | ".join(names),
            "gpu_type": gpu.key if gpu else None,
            "pool": p.pool,
            "fb_used_bytes": None if p.fb_used_bytes is None else round(p.fb_used_bytes),
            "fb_free_bytes": _rounded(free.get((uuid, ts, *p.series))) if p.series else None,
            "fb_reserved_bytes": _rounded(reserved.get((uuid, ts, *p.series))) if p.series else None,
            "gpu_util_percent": util.get((uuid, ts, *p.series)) if p.series else None,
            "gpu_share_ppm": p.share_ppm,
            "problem": None if p.problem is None else p.problem[:200],
        }
        for p in parts
    ]


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def _per_gpu(series_list: list[Series], plan: Plan) -> dict[tuple[str, int], float]:
    """A per-GPU gauge (board power) by (uuid, ts). dcgm writes device fields once per GPU, but a scrape
    may attach pod labels to several copies: of duplicates, the largest, whatever their order."""
    out: dict[tuple[str, int], float] = {}
    for series in series_list:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        for ts, value in series.points:
            seen = out.get((uuid, ts))
            out[(uuid, ts)] = value if seen is None or value > seen else seen
    return out


def _by_series(series_list: list[Series], plan: Plan) -> dict[SeriesValueKey, float]:
    """Values by (uuid, ts, MIG instance, workload); of duplicates, the largest (not the last: the order
    series arrive in decides nothing)."""
    out: dict[SeriesValueKey, float] = {}
    for series in series_list:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        mig, pod = first_label(series.labels, MIG_ID_LABELS) or "", workload(series.labels) or ""
        for ts, value in series.points:
            key = (uuid, ts, mig, pod)
            seen = out.get(key)
            out[key] = value if seen is None or value > seen else seen
    return out
