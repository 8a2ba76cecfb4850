"""GPU telemetry (dcgm-exporter by default): which GPUs were present in each interval, in which pool.

Each interval ``[t, t + step)`` takes the samples in ``(t, t + step]``: the profile's ``avg_over_time``
over ``$window`` evaluated at ``t + step``. Signals are in canonical units: bytes and percent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from attribution.collectors.batch import Batch
from attribution.collectors.labels import first_label, pool_for_gpu
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, Series, utc_from_seconds
from attribution.config import Settings
from attribution.store.tables import GpuSample

SOURCE = "gpu"


def collect_gpu(client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime) -> Batch:
    """Rows for ``gpu_samples`` over ``[start, end)``."""
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end

    def read(signal: str) -> list[Series]:
        query = plan.query(signal, step)
        return [] if query is None else client.range_query(query, first, last, step)

    used = read("fb_used_bytes")
    free, util = _by_uuid(read("fb_free_bytes"), plan), _by_uuid(read("gpu_util_percent"), plan)
    reserved = _by_uuid(read("fb_reserved_bytes"), plan)
    batch = Batch(GpuSample, [])
    for series in used:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is None:
            continue
        model_name = first_label(series.labels, plan.labels.gpu_model) or ""
        gpu = settings.catalog.match_gpu(model_name)
        pool = pool_for_gpu(settings, series.labels)
        for ts, value in series.points:
            interval_start = utc_from_seconds(ts - step)
            batch.saw(interval_start)
            free_bytes, reserved_bytes = free.get((uuid, ts)), reserved.get((uuid, ts))
            batch.rows.append(
                {
                    "interval_start": interval_start,
                    "gpu_uuid": uuid,
                    "hostname": first_label(series.labels, plan.labels.hostname) or "",
                    "gpu_model_name": model_name,
                    "gpu_type": gpu.key if gpu else None,
                    "pool": pool.name if pool else None,
                    "fb_used_bytes": round(value),
                    "fb_free_bytes": None if free_bytes is None else round(free_bytes),
                    "fb_reserved_bytes": None if reserved_bytes is None else round(reserved_bytes),
                    "gpu_util_percent": util.get((uuid, ts)),
                }
            )
    return batch


def _by_uuid(series_list: list[Series], plan: Plan) -> dict[tuple[str, int], float]:
    out: dict[tuple[str, int], float] = {}
    for series in series_list:
        uuid = first_label(series.labels, plan.labels.gpu_uuid)
        if uuid is not None:
            for ts, value in series.points:
                out[(uuid, ts)] = value
    return out
