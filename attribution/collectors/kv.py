"""KV-cache occupancy and capacity per engine, from vLLM (V1 names, and the pre-0.10 name).

Capacity comes from the labels of ``vllm:cache_config_info``: ``kv_cache_size_tokens`` where the engine
exports it (vLLM 0.33+, correct for hybrid models), else ``num_gpu_blocks x block_size``. It carries no
``model_name``, so it is joined to the usage series by (pod or instance, engine).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from attribution.catalog import get_model
from attribution.catalog.models import kv_dtype_bytes
from attribution.collectors.labels import label, pool_for_model
from attribution.collectors.prom import PromClient, Series, utc_from_seconds
from attribution.config import Settings
from attribution.errors import UnknownCatalogEntryError

SOURCE = "kv"
USAGE = '{__name__=~"vllm:(kv|gpu)_cache_usage_perc"}'


def _engine_key(labels: dict[str, str]) -> str:
    where = label(labels, "pod") or labels.get("instance", "")
    return f"{where}/{labels.get('engine', '0')}"


def _capacity_tokens(labels: dict[str, str]) -> int | None:
    size = labels.get("kv_cache_size_tokens", "None")
    if size.isdigit():
        return int(size)
    blocks, block_size = labels.get("num_gpu_blocks", "None"), labels.get("block_size", "None")
    if blocks.isdigit() and block_size.isdigit():
        return int(blocks) * int(block_size)
    return None


def _by_engine(series_list: list[Series]) -> dict[tuple[str, int], float]:
    return {(_engine_key(s.labels), ts): v for s in series_list for ts, v in s.points}


def collect_kv(
    client: PromClient, settings: Settings, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], dict[datetime, int]]:
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end
    usage = client.range_query(f"avg_over_time({USAGE}[{step}s])", first, last, step)
    running = _by_engine(
        client.range_query(f"avg_over_time(vllm:num_requests_running[{step}s])", first, last, step)
    )
    waiting = _by_engine(
        client.range_query(f"avg_over_time(vllm:num_requests_waiting[{step}s])", first, last, step)
    )
    config = {
        (_engine_key(s.labels), ts): s.labels
        for s in client.range_query("last_over_time(vllm:cache_config_info[1h])", first, last, step)
        for ts, _ in s.points
    }
    rows: list[dict[str, Any]] = []
    seen: dict[datetime, int] = {}
    for series in usage:
        pool = pool_for_model(settings, series.labels.get("model_name"))
        if pool is None:
            continue
        key = _engine_key(series.labels)
        for ts, value in series.points:
            cache = config.get((key, ts), {})
            interval_start = utc_from_seconds(ts - step)
            seen[interval_start] = seen.get(interval_start, 0) + 1
            rows.append(
                {
                    "interval_start": interval_start,
                    "pool": pool.name,
                    "engine_id": key,
                    "kv_usage_ratio": value,
                    "kv_capacity_tokens": _capacity_tokens(cache),
                    "kv_bytes_per_token": _bytes_per_token(pool.model, pool.tensor_parallel_size, cache),
                    "requests_running": running.get((key, ts)),
                    "requests_waiting": waiting.get((key, ts)),
                }
            )
    return rows, seen


def _bytes_per_token(model_key: str, tp: int, cache: dict[str, str]) -> int | None:
    try:
        dtype_bytes = kv_dtype_bytes(cache.get("cache_dtype", "auto"))
    except UnknownCatalogEntryError:
        return None
    return get_model(model_key).kv_bytes_per_token(dtype_bytes, tp)
