"""Per-tenant usage from a gateway's counters: the native contract, LiteLLM or OpenTelemetry GenAI.

Counters are differenced exactly and reset-aware (:mod:`attribution.collectors.counters`), then summed per
(interval, pool, tenant, tier). Where the profile has no ``kv_token_seconds`` counter they are estimated
from tokens and latency (:mod:`attribution.collectors.estimate`); where it has no tier label, a group's
tier is the one of its mean context per request in the interval. Both mark the interval ``estimated``.
An interval in which no counter had a sample (Prometheus was down) is ``missing``: the increase across
the gap is spread over it (:func:`attribution.collectors.counters.spread_gaps`), and the attribution marks
the lines of that usage estimated. An interval in which only some series were silent (one pool's gateway
series absent) has their increase spread the same way and is ``estimated``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.collectors.batch import Batch
from attribution.collectors.counter_columns import counters_side_by_side
from attribution.collectors.counters import CounterIncreases, counter_increases
from attribution.collectors.estimate import Latency, estimate_token_seconds
from attribution.collectors.labels import (
    first_label,
    pool_for_model,
    tenant_of,
    tier_for_context,
    tier_of,
)
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient, utc_from_seconds
from attribution.collectors.usage_sums import USAGE, usage_rows
from attribution.config import Settings
from attribution.model.vocabulary import NO_TIER, UNMAPPED_POOL
from attribution.store.tables import TenantUsage

log = logging.getLogger(__name__)

SOURCE = "gateway"
LATENCY = ("latency_seconds_sum", "latency_seconds_count", "ttft_seconds_sum", "ttft_seconds_count")
#: (interval start unix s, pool, tenant, tier); tier is "" until derived when the profile has none.
Key = tuple[int, str, str, str]


def collect_gateway(
    client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime
) -> Batch:
    """``tenant_usage`` rows for ``[start, end)``. With a tier label and a ``kv_token_seconds`` counter
    (the native contract: nothing estimated) every value is a sum of counters, summed as columns
    (:func:`_collect_columns`); otherwise per group and interval, where tiers and estimates are made."""
    if plan.labels.tier and "kv_token_seconds" in plan.profile.signals:
        return _collect_columns(client, settings, plan, start, end)
    return _collect_dicts(client, settings, plan, start, end)


def _collect_columns(
    client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime
) -> Batch:
    """The rows, coverage and gaps :func:`_collect_dicts` gives a profile with a tier label and
    ``kv_token_seconds`` (its branch for them is kept as this one's oracle: tests/collectors/
    test_sim_profiles.py), from the counters' columns (:mod:`.counter_columns`, their queries side by
    side) summed by :func:`~attribution.collectors.usage_sums.usage_rows`: no dict per series, group
    or row."""
    step = settings.interval_seconds
    first_ts = int(start.timestamp())
    lookback = settings.collection.counter_baseline_lookback_seconds

    signals = list(plan.profile.signals)
    selectors = [q for q in (plan.query(signal, step) for signal in signals) if q is not None]
    assert len(selectors) == len(signals)  # each is one of the profile's signals
    keys: dict[tuple[tuple[str, str], ...], int] = {}  # per label set, over all signals: its group
    groups: dict[tuple[str, str, str], int] = {}
    pools: dict[str | None, str] = {}
    sampled: set[int] = set()
    silent: set[int] = set()
    intervals = (int(end.timestamp()) - first_ts) // step
    cells: dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
    read = counters_side_by_side(client, selectors, start, end, step, lookback)
    for signal, counters in zip(signals, read, strict=True):
        sampled.update(counters.sampled)
        silent.update(counters.silent)
        group_of = np.empty(len(counters.labels), dtype=np.int64)
        for i, labels in enumerate(counters.labels):
            named = tuple(item for item in labels.items() if item[0] != "__name__")
            if named not in keys:
                keys[named] = groups.setdefault(_key(settings, plan, labels, pools), len(groups))
            group_of[i] = keys[named]
        if signal in USAGE:
            where = group_of[counters.series] * intervals + (counters.starts - first_ts) // step
            cells[signal] = (where, counters.increases)
    batch = Batch(TenantUsage, [])
    batch.missing = {utc_from_seconds(ts) for ts in silent - sampled}
    batch.estimated.update(utc_from_seconds(ts) for ts in silent & sampled)
    batch.open_gap = _open_gap(batch.missing, end, step)
    batch.columns = usage_rows(cells, list(groups), first_ts, step, intervals)
    batch.series.update(batch.columns.per_interval())  # what batch.saw counts row by row
    return batch


def _collect_dicts(
    client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime
) -> Batch:
    step = settings.interval_seconds
    #: (pool, tenant, tier) -> usage signal -> interval start -> increase: a group's first series of a
    #: signal is taken whole (``dict.update``, no Python loop per sample), later ones added sample by sample
    groups: dict[tuple[str, str, str], dict[str, dict[int, float]]] = {}
    latency: dict[tuple[int, str, str], Latency] = defaultdict(Latency)
    sampled: set[int] = set()
    silent: set[int] = set()
    lookback = settings.collection.counter_baseline_lookback_seconds

    def read(signal: str) -> list[CounterIncreases]:
        query = plan.query(signal, step)
        assert query is not None
        return counter_increases(client, query, start, end, step, lookback)

    # every counter side by side (at most the source's max_concurrent_queries), summed in signal order
    signals = list(plan.profile.signals)
    keys: dict[tuple[tuple[str, str], ...], tuple[str, str, str]] = {}  # per label set, over all signals
    pools: dict[str | None, str] = {}  # per served model name: a scan of every pool, once per model
    for signal, counters in zip(signals, client.map(read, signals), strict=True):
        for counter in counters:
            sampled.update(counter.sampled)
            silent.update(counter.silent)
            # the same series under each signal's metric name (labels come sorted): one key computed
            labels = tuple(item for item in counter.labels.items() if item[0] != "__name__")
            if labels not in keys:
                keys[labels] = _key(settings, plan, counter.labels, pools)
            pool, tenant, tier = keys[labels]
            if signal in USAGE:
                by_ts = groups.setdefault((pool, tenant, tier), {}).setdefault(signal, {})
                if not by_ts:
                    by_ts.update(counter.increases)  # 0.0 + x is x: the same sums as adding
                    continue
                for ts, inc in counter.increases.items():
                    by_ts[ts] = by_ts.get(ts, 0.0) + inc
            else:
                for ts, inc in counter.increases.items():
                    latency[(ts, pool, tenant)] += _latency(signal, inc)
    batch = Batch(TenantUsage, [])
    batch.missing = {utc_from_seconds(ts) for ts in silent - sampled}  # no series had a sample: a gap
    # some series were silent while others answered (one pool's gateway series absent): their increase
    # was spread over the silence, an estimate, so the interval is ``estimated``, never plain present
    batch.estimated.update(utc_from_seconds(ts) for ts in silent & sampled)
    batch.open_gap = _open_gap(batch.missing, end, step)
    if plan.labels.tier and "kv_token_seconds" in plan.profile.signals:
        batch.rows = _rows(groups)  # the common case: no estimate, every value is a sum of counters
        for at, n in Counter(map(itemgetter("interval_start"), batch.rows)).items():
            batch.series[at] = n  # what batch.saw counts row by row
        return batch
    usage: dict[Key, dict[str, float]] = defaultdict(dict)
    for (pool, tenant, tier), by_signal in groups.items():
        for signal, by_ts in by_signal.items():
            for ts, value in by_ts.items():
                usage[(ts, pool, tenant, tier)][signal] = value
    if not plan.labels.tier:
        usage = _tiers_from_context(settings, usage, batch)
    if "kv_token_seconds" not in plan.profile.signals:
        _estimate(usage, latency, batch)
    # in key order (the table's primary key), which makes the write's own sort a single pass
    batch.rows = [
        {
            "interval_start": utc_from_seconds(ts),
            "pool": pool,
            "tenant": tenant,
            "tier": tier,
            "requests": round(values.get("requests", 0.0)),
            "prompt_tokens": round(values.get("prompt_tokens", 0.0)),
            "generation_tokens": round(values.get("generation_tokens", 0.0)),
            "kv_token_seconds": values.get("kv_token_seconds", 0.0),
        }
        for (ts, pool, tenant, tier), values in sorted(usage.items())
    ]
    for ts, n in Counter(key[0] for key in usage).items():
        batch.series[utc_from_seconds(ts)] = n  # what batch.saw counted row by row
    return batch


def _rows(groups: dict[tuple[str, str, str], dict[str, dict[int, float]]]) -> list[dict[str, Any]]:
    """``tenant_usage`` rows, one per group and interval in which any of its usage counters grew, in key
    order (the table's primary key: the write's own sort is then a single pass)."""
    rows = []
    for (pool, tenant, tier), by_signal in groups.items():
        requests, prompt, generated, kv = (by_signal.get(signal, {}) for signal in USAGE)
        for ts in set(requests).union(prompt, generated, kv):
            rows.append(
                {
                    "interval_start": utc_from_seconds(ts),
                    "pool": pool,
                    "tenant": tenant,
                    "tier": tier,
                    "requests": round(requests.get(ts, 0.0)),
                    "prompt_tokens": round(prompt.get(ts, 0.0)),
                    "generation_tokens": round(generated.get(ts, 0.0)),
                    "kv_token_seconds": kv.get(ts, 0.0),
                }
            )
    rows.sort(key=itemgetter("interval_start", "pool", "tenant", "tier"))
    return rows


def _open_gap(missing: set[datetime], end: datetime, step: int) -> datetime | None:
    """The start of the run of missing intervals that ends the window, if it does."""
    t = end
    while t - timedelta(seconds=step) in missing:
        t -= timedelta(seconds=step)
    return t if t < end else None


def _key(
    settings: Settings, plan: Plan, labels: Mapping[str, str], pools: dict[str | None, str]
) -> tuple[str, str, str]:
    """(pool, tenant, tier) of a label set; ``pools`` remembers each model's pool (at 320 pools and
    1,000 tenants, scanning the pools per label set was a tenth of the gateway's Python time)."""
    model = first_label(labels, plan.labels.model)
    if model not in pools:
        found = pool_for_model(settings, model)
        pools[model] = found.name if found else UNMAPPED_POOL
    tier = tier_of(settings, labels, plan.labels.tier) if plan.labels.tier else ""
    return pools[model], tenant_of(settings, labels, plan.labels.tenant), tier


def _latency(signal: str, value: float) -> Latency:
    index = LATENCY.index(signal)
    return Latency(*(value if i == index else 0.0 for i in range(4)))


def _tiers_from_context(
    settings: Settings, usage: dict[Key, dict[str, float]], batch: Batch
) -> dict[Key, dict[str, float]]:
    """Without a tier label, a (pool, tenant) group's interval goes to the tier of its mean context."""
    out: dict[Key, dict[str, float]] = {}
    for (ts, pool, tenant, _), values in usage.items():
        requests = values.get("requests", 0.0)
        tokens = values.get("prompt_tokens", 0.0) + values.get("generation_tokens", 0.0)
        tier = tier_for_context(settings, tokens / requests) if requests > 0 else NO_TIER
        out[(ts, pool, tenant, tier)] = values
        batch.estimated.add(utc_from_seconds(ts))
    return out


def _estimate(
    usage: dict[Key, dict[str, float]], latency: Mapping[tuple[int, str, str], Latency], batch: Batch
) -> None:
    """Fill ``kv_token_seconds`` from tokens x latency; a group with no latency observation in the
    interval takes its pool's mean latency there, and only without that stays at zero."""
    by_pool: dict[tuple[int, str], Latency] = defaultdict(Latency)
    for (ts, pool, _), observed in latency.items():
        by_pool[(ts, pool)] += observed
    for (ts, pool, tenant, _), values in usage.items():
        prompt, generated = values.get("prompt_tokens", 0.0), values.get("generation_tokens", 0.0)
        if prompt == 0 and generated == 0:
            continue
        own = latency.get((ts, pool, tenant), Latency())
        estimate = estimate_token_seconds(prompt, generated, own)
        if estimate is None:
            estimate = estimate_token_seconds(prompt, generated, by_pool.get((ts, pool), Latency()))
        if estimate is None:
            log.warning("no latency for %s/%s at %s: KV token-seconds left at 0", pool, tenant, ts)
            estimate = 0.0
        values["kv_token_seconds"] = estimate
        batch.estimated.add(utc_from_seconds(ts))
