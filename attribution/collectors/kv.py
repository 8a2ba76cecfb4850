"""KV-cache occupancy and capacity per engine (vLLM by default, SGLang by its profile).

Capacity is the profile's ``kv_capacity_tokens`` gauge (SGLang's ``max_total_num_tokens``) or comes from
the labels of an info series (vLLM's ``cache_config_info``): ``kv_cache_size_tokens`` where the engine
exports it (vLLM 0.33+, right for hybrid models), else ``num_gpu_blocks x block_size``. vLLM's info series
carries no ``model_name``, so everything is joined on the engine (pod or instance, engine index).
The KV dtype is the info series' ``cache_dtype`` (``auto`` when absent: the model's dtype; ``fp8_ds_mla``
is DeepSeek's FlashMLA FP8 layout); bytes per token come from ``settings.catalog`` (docs/catalog.md).
Where several series meet on one engine and interval the largest reading is kept, so the order in which
the store returns series never changes a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.answers import SeriesColumns
from attribution.collectors.batch import Batch, RowColumns
from attribution.collectors.gauges import NO_SERIES, Texts, distinct, largest
from attribution.collectors.labels import engine_id, first_label, pool_for_model
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, utc_from_seconds
from attribution.config import PoolConfig, Settings
from attribution.errors import UnknownCatalogEntryError
from attribution.store.column_copy import ColumnValues, Nulls
from attribution.store.tables import KvSample

SOURCE = "kv"
#: What the collector reads, in the order it reads it.
SIGNALS = (
    "requests_running",
    "requests_waiting",
    "kv_capacity_tokens",
    "cache_config_info",
    "kv_usage_ratio",
)


def capacity_from_info(labels: Mapping[str, str]) -> int | None:
    size = labels.get("kv_cache_size_tokens", "None")
    if size.isdigit():
        return int(size)
    blocks, block_size = labels.get("num_gpu_blocks", "None"), labels.get("block_size", "None")
    if blocks.isdigit() and block_size.isdigit():
        return int(blocks) * int(block_size)
    return None


def collect_kv(client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime) -> Batch:
    """``kv_samples`` rows for ``[start, end)``, one per (pool, engine) and interval with a KV usage, as
    columns: each gauge folded into an (engine, interval) matrix (the largest value where series meet,
    :func:`~attribution.collectors.gauges.largest`), no dict per sample or row."""
    step = settings.interval_seconds
    first, last = start + timedelta(seconds=step), end

    def read(signal: str) -> SeriesColumns:
        query = plan.query(signal, step)
        return NO_SERIES if query is None else client.range_columns(query, first, last, step)

    answers = dict(zip(SIGNALS, client.map(read, SIGNALS), strict=True))  # side by side, in this order
    stamps = distinct(np.concatenate([a.stamps for a in answers.values()]))

    def at(answer: SeriesColumns) -> NDArray[np.int64]:
        return np.searchsorted(stamps, answer.stamps).astype(np.int64)

    engines = Texts()
    keys = {name: engines.codes([engine_id(x, plan.labels) for x in a.labels]) for name, a in answers.items()}
    shape = (len(engines.names), len(stamps))
    running, waiting, capacity = (
        largest(answers[name], keys[name], at(answers[name]), shape)
        for name in ("requests_running", "requests_waiting", "kv_capacity_tokens")
    )
    info, infos = _info(answers["cache_config_info"], keys["cache_config_info"], at, shape)
    usage = answers["kv_usage_ratio"]
    pools: dict[tuple[str, str], int] = {}  # (pool, engine) of each usage series
    targets = np.full(len(usage.labels), -1, dtype=np.int64)
    for i, labels in enumerate(usage.labels):
        pool = pool_for_model(settings, first_label(labels, plan.labels.model))
        if pool is not None:
            targets[i] = pools.setdefault((pool.name, engines.names[keys["kv_usage_ratio"][i]]), len(pools))
    pairs = sorted(pools)  # rows by (pool, engine), as the dicts were sorted
    rank = np.zeros(len(pairs), dtype=np.int64)
    rank[[pools[p] for p in pairs]] = np.arange(len(pairs))
    ranked = np.full(len(targets), -1, dtype=np.int64)
    ranked[targets >= 0] = rank[targets[targets >= 0]]
    values = largest(usage, ranked, at(usage), (len(pairs), len(stamps)))
    pair, k = np.nonzero(~np.isnan(values))
    order = np.lexsort((pair, k))  # the table's key: interval, then (pool, engine)
    pair, k = pair[order], k[order]
    engine = np.array([engines.code(e) for _, e in pairs], dtype=np.int64)[pair]
    batch = Batch(KvSample, [])
    interval_starts = stamps[k] - step
    for ts, n in zip(*(x.tolist() for x in np.unique(interval_starts, return_counts=True)), strict=True):
        batch.series[utc_from_seconds(ts)] = n
    if not len(k):
        return batch
    chosen = info[engine, k]  # the info series of each row (-1: none)
    from_info = [capacity_from_info(infos[c]) if c >= 0 else None for c in chosen.tolist()]
    tokens = capacity[engine, k]
    figures = _per_token(settings, [pairs[p][0] for p in pair.tolist()], infos, chosen)
    pool_names = Texts()
    columns: dict[str, ColumnValues] = {
        "interval_start": interval_starts,
        "pool": pool_names.column(pool_names.codes([pool for pool, _ in pairs])[pair]),
        "engine_id": engines.column(engine),
        "kv_usage_ratio": values[pair, k],
        "kv_capacity_tokens": _ints(_capacities(tokens, from_info)),
        "kv_bytes_per_token": _ints(figures),
        "requests_running": _floats(running[engine, k]),
        "requests_waiting": _floats(waiting[engine, k]),
    }
    batch.columns = RowColumns(columns, len(k))
    return batch


def _info(
    answer: SeriesColumns,
    engines: NDArray[np.int64],
    at: Callable[[SeriesColumns], NDArray[np.int64]],
    shape: tuple[int, int],
) -> tuple[NDArray[np.int64], list[dict[str, str]]]:
    """Per (engine, interval) the info series to read capacity and dtype from (-1: none), and the info
    series' labels. A restart may leave two label sets within the lookback: of those present, the one
    whose sorted labels are largest, whatever the series order."""
    ranks = np.zeros(len(answer.labels), dtype=np.int64)
    by_labels = sorted(range(len(answer.labels)), key=lambda i: sorted(answer.labels[i].items()))
    ranks[by_labels] = np.arange(len(by_labels))
    lengths = np.diff(answer.offsets)
    best = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    np.maximum.at(best, np.repeat(engines, lengths) * shape[1] + at(answer), np.repeat(ranks, lengths))
    chosen = np.full(len(best), -1, dtype=np.int64)
    chosen[best >= 0] = np.asarray(by_labels, dtype=np.int64)[best[best >= 0]]
    return chosen.reshape(shape), answer.labels


def _per_token(
    settings: Settings, pool_names: list[str], infos: list[dict[str, str]], chosen: NDArray[np.int64]
) -> list[int | None]:
    """Each row's bytes per token: the catalog's figure at its info series' ``cache_dtype`` (``auto``
    without one), looked up once per (pool, dtype) rather than once per row."""
    figures: dict[tuple[str, str], int | None] = {}
    pools = {p.name: p for p in settings.pools}
    out = []
    for name, c in zip(pool_names, chosen.tolist(), strict=True):
        dtype = infos[c].get("cache_dtype", "auto") if c >= 0 else "auto"
        if (name, dtype) not in figures:
            figures[(name, dtype)] = _bytes_per_token(settings, pools[name], dtype)
        out.append(figures[(name, dtype)])
    return out


def _capacities(tokens: NDArray[np.float64], from_info: list[int | None]) -> list[int | None]:
    """The capacity gauge, rounded, where there is one; else the info series' figure."""
    gauge = tokens.tolist()
    return [f if math.isnan(t) else round(t) for t, f in zip(gauge, from_info, strict=True)]


def _ints(values: list[int | None]) -> Nulls:
    null = np.array([v is None for v in values], dtype=bool)
    return Nulls(np.array([0 if v is None else v for v in values], dtype=np.int64), null)


def _floats(values: NDArray[np.float64]) -> Nulls:
    null = np.isnan(values)
    return Nulls(np.where(null, 0.0, values), null)


def _bytes_per_token(settings: Settings, pool: PoolConfig, cache_dtype: str) -> int | None:
    """The catalog figure at the engine's ``cache_dtype`` (``fp8_ds_mla`` included); None when the
    label names a dtype the catalog does not know (the model's own figure is used instead)."""
    try:
        model = settings.catalog.model(pool.model)
        return model.kv_bytes_per_token_for(cache_dtype, pool.tensor_parallel_size)
    except UnknownCatalogEntryError:
        return None
