"""GPU telemetry from dcgm-exporter: which GPUs were present in each interval, in which pool.

Each interval ``[t, t + step)`` takes the samples in ``(t, t + step]``: ``avg_over_time(x[step])``
evaluated at ``t + step``. FB metrics are MiB; utilisation is percent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from attribution.catalog import match_gpu
from attribution.catalog.gpus import MIB
from attribution.collectors.labels import label, pool_for_gpu
from attribution.collectors.prom import PromClient, Series, utc_from_seconds
from attribution.config import Settings

SOURCE = "gpu"


def _query(metric: str, step: int) -> str:
    return f"avg_over_time({metric}[{step}s])"


def _uuid(labels: dict[str, str]) -> str | None:
    return labels.get("UUID") or labels.get("uuid")


def collect_gpu(
    client: PromClient, settings: Settings, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], dict[datetime, int]]:
    """Rows for ``gpu_samples`` over ``[start, end)`` and the number of GPUs seen per interval."""
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end
    used = client.range_query(_query("DCGM_FI_DEV_FB_USED", step), first, last, step)
    free = _by_uuid(client.range_query(_query("DCGM_FI_DEV_FB_FREE", step), first, last, step))
    util = _by_uuid(client.range_query(_query("DCGM_FI_DEV_GPU_UTIL", step), first, last, step))
    rows: list[dict[str, Any]] = []
    seen: dict[datetime, int] = {}
    for series in used:
        uuid = _uuid(series.labels)
        if uuid is None:
            continue
        gpu = match_gpu(series.labels.get("modelName", ""))
        pool = pool_for_gpu(settings, series.labels)
        for ts, value in series.points:
            interval_start = utc_from_seconds(ts - step)
            seen[interval_start] = seen.get(interval_start, 0) + 1
            rows.append(
                {
                    "interval_start": interval_start,
                    "gpu_uuid": uuid,
                    "hostname": label(series.labels, "hostname") or "",
                    "gpu_model_name": series.labels.get("modelName", ""),
                    "gpu_type": gpu.key if gpu else None,
                    "pool": pool.name if pool else None,
                    "fb_used_bytes": round(value * MIB),
                    "fb_free_bytes": _mib(free.get((uuid, ts))),
                    "gpu_util_percent": util.get((uuid, ts)),
                }
            )
    return rows, seen


def _by_uuid(series_list: list[Series]) -> dict[tuple[str, int], float]:
    out: dict[tuple[str, int], float] = {}
    for series in series_list:
        uuid = _uuid(series.labels)
        if uuid is not None:
            for ts, value in series.points:
                out[(uuid, ts)] = value
    return out


def _mib(value: float | None) -> int | None:
    return None if value is None else round(value * MIB)
