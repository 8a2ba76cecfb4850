"""The KV collector as it was before its rows became columns (dicts per engine and interval, a dict per
row): the oracle of tests/collectors/test_kv_columns.py, which checks that
:func:`attribution.collectors.kv.collect_kv` gives the same rows and series per interval."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from attribution.collectors.answers import Series
from attribution.collectors.batch import Batch
from attribution.collectors.kv import _bytes_per_token, capacity_from_info
from attribution.collectors.labels import engine_id, first_label, pool_for_model
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, utc_from_seconds
from attribution.config import PoolConfig, Settings
from attribution.store.tables import KvSample

K = TypeVar("K", bound=Hashable)


def collect_kv_dicts(
    client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime
) -> Batch:
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end

    def read(signal: str) -> list[Series]:
        query = plan.query(signal, step)
        return [] if query is None else client.range_query(query, first, last, step)

    def by_engine(series_list: list[Series]) -> dict[tuple[str, int], float]:
        out: dict[tuple[str, int], float] = {}
        for s in series_list:  # the engine once per series, not once per sample
            engine = engine_id(s.labels, plan.labels)
            for ts, value in s.points:
                key = (engine, ts)
                if key not in out or value > out[key]:
                    out[key] = value
        return out

    signals = (
        "requests_running",
        "requests_waiting",
        "kv_capacity_tokens",
        "cache_config_info",
        "kv_usage_ratio",
    )
    answers = dict(zip(signals, client.map(read, signals), strict=True))  # side by side, in this order
    running, waiting = by_engine(answers["requests_running"]), by_engine(answers["requests_waiting"])
    capacity = by_engine(answers["kv_capacity_tokens"])
    info: dict[tuple[str, int], Mapping[str, str]] = {}
    for s in answers["cache_config_info"]:
        engine = engine_id(s.labels, plan.labels)
        for ts, _ in s.points:
            at = (engine, ts)
            # a restart may leave two label sets within the lookback: pick one whatever the series order
            if at not in info or sorted(s.labels.items()) > sorted(info[at].items()):
                info[at] = s.labels
    usage: dict[tuple[str, str], dict[int, float]] = {}
    for series in answers["kv_usage_ratio"]:
        pool = pool_for_model(settings, first_label(series.labels, plan.labels.model))
        if pool is not None:
            points = usage.setdefault((pool.name, engine_id(series.labels, plan.labels)), {})
            points.update(_max_by_key([*points.items(), *series.points]))
    figures: dict[tuple[str, str], int | None] = {}

    def per_token(pool: PoolConfig, dtype: str) -> int | None:
        """The catalog's figure, looked up once per (pool, dtype) and chunk rather than once per row."""
        if (pool.name, dtype) not in figures:
            figures[(pool.name, dtype)] = _bytes_per_token(settings, pool, dtype)
        return figures[(pool.name, dtype)]

    rows: list[dict[str, Any]] = []
    batch = Batch(KvSample, rows)
    for (pool_name, key), points in sorted(usage.items()):
        pool = next(p for p in settings.pools if p.name == pool_name)
        for ts, value in sorted(points.items()):
            cache = info.get((key, ts), {})
            tokens = capacity.get((key, ts))
            interval_start = utc_from_seconds(ts - step)
            batch.saw(interval_start)
            rows.append(
                {
                    "interval_start": interval_start,
                    "pool": pool.name,
                    "engine_id": key,
                    "kv_usage_ratio": value,
                    "kv_capacity_tokens": round(tokens) if tokens is not None else capacity_from_info(cache),
                    "kv_bytes_per_token": per_token(pool, cache.get("cache_dtype", "auto")),
                    "requests_running": running.get((key, ts)),
                    "requests_waiting": waiting.get((key, ts)),
                }
            )
    return batch


def _max_by_key(items: Iterable[tuple[K, float]]) -> dict[K, float]:
    """One value per key: the largest, where several series of one engine meet (an engine's ranks or
    processes the profile did not aggregate, a gauge under two names), so series order decides nothing."""
    out: dict[K, float] = {}
    for key, value in items:
        if key not in out or value > out[key]:
            out[key] = value
    return out
