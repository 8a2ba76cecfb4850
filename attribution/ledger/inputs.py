"""Building the model's plain inputs from stored telemetry and the settings, interval by interval."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from attribution.catalog import Catalog
from attribution.catalog.gpus import MIB
from attribution.config import Settings
from attribution.model.attribute import ClusterInterval
from attribution.model.derived_price import (
    PricingPoint,
    measured_power_adjustment_usd_micros,
    schedule_span_cost_usd_micros,
)
from attribution.model.gpu_cost import monthly_share_usd_micros
from attribution.model.money import allocate
from attribution.model.split import LineKey, PoolInterval, Usage
from attribution.model.vocabulary import FixedPolicy
from attribution.timeutil import period_window

UNALLOCATED = "\x00unallocated"
UNMEASURED = "\x00unmeasured"
#: A GPU's parts (MIG instances, shares of a shared GPU) are counted in parts per million of the GPU.
PPM = 1_000_000


@dataclass(slots=True)
class IntervalTelemetry:
    gpus: dict[tuple[str, str], int]
    """(gpu_type, pool or UNALLOCATED) -> GPUs sampled."""
    kv: list[tuple[str, float, int | None, int | None]]
    """(pool, usage ratio, capacity tokens, bytes per token) per engine."""
    usage: dict[str, dict[LineKey, Usage]]
    running: dict[str, float] = field(default_factory=dict)
    """Per pool, mean requests running summed over the engines that reported it: engine activity,
    which tells a telemetry gap (work, no tenant data) from idle."""
    memory: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(gpu_type, pool or UNALLOCATED) -> (GPUs whose dcgm FB gauges were all reported, their MiB)."""
    shares: dict[tuple[str, str], int] = field(default_factory=dict)
    """(gpu_type, pool, UNALLOCATED or UNMEASURED) -> parts of MIG and shared GPUs, in ppm of a GPU."""
    power: dict[str, tuple[int, int]] = field(default_factory=dict)
    """gpu_type -> (whole GPUs whose board power dcgm reported, the sum of it in milliwatts)."""


@dataclass(slots=True)
class ModelInputs:
    pool_intervals: list[PoolInterval]
    cluster_intervals: list[ClusterInterval]
    cluster_cost_rows: list[dict[str, Any]]
    pool_gpu_counts: dict[tuple[int, str], int]
    bytes_per_token: dict[str, int]


def price_schedules(settings: Settings) -> dict[str, list[PricingPoint]]:
    """Each GPU type's effective-dated prices, direct or derived from a purchase, by effective date."""
    schedules: dict[str, list[PricingPoint]] = defaultdict(list)
    for price in settings.gpu_prices:
        schedules[price.gpu_type].append(price.point())
    return {k: sorted(v, key=lambda p: p.effective_from_s) for k, v in schedules.items()}


def group_telemetry(
    gpu_count_rows: Sequence[Any], kv_rows: Sequence[Any], usage_rows: Sequence[Any]
) -> dict[int, IntervalTelemetry]:
    """Rows by interval (``interval_start_s``, Unix seconds), each in the column order of its reader in
    :mod:`attribution.store.inputs`: ``gpu_counts``, ``kv_samples`` and ``tenant_usage`` (the job reads
    usage as columns instead and passes none here)."""
    by_ts: dict[int, IntervalTelemetry] = defaultdict(lambda: IntervalTelemetry({}, [], {}))
    # rows unpacked by position: a SQLAlchemy row's attribute access costs eight times a tuple's
    for ts, gpu_type, pool, unplaced, gpu_count, share, measured_count, mib, powered, mw in gpu_count_rows:
        tel = by_ts[ts]
        key = (gpu_type, UNMEASURED if unplaced else pool or UNALLOCATED)
        gpus, share_ppm = int(gpu_count), int(share)
        if gpus:
            tel.gpus[key] = tel.gpus.get(key, 0) + gpus
        if share_ppm:
            tel.shares[key] = tel.shares.get(key, 0) + share_ppm
        if powered:
            n_powered, milliwatts = tel.power.get(gpu_type, (0, 0))
            tel.power[gpu_type] = (n_powered + int(powered), milliwatts + int(mw))
        measured = int(measured_count or 0)
        if measured:
            gpus_measured, total_mib = tel.memory.get(key, (0, 0))
            tel.memory[key] = (gpus_measured + measured, total_mib + int(mib))
    for ts, pool, _engine, ratio, capacity_tokens, bytes_per_token, running in kv_rows:
        tel = by_ts[ts]
        tel.kv.append((pool, ratio, capacity_tokens, bytes_per_token))
        if running is not None:
            tel.running[pool] = tel.running.get(pool, 0.0) + float(running)
    # a month is millions of usage rows: unpack them as tuples, keep the current interval's cell at hand
    current_ts: int | None = None
    usage: dict[str, dict[LineKey, Usage]] = {}
    for ts, pool, tenant, tier, requests, prompt, generation, token_seconds in usage_rows:
        if ts != current_ts:
            current_ts, usage = ts, by_ts[ts].usage
        pool_usage = usage.get(pool)
        if pool_usage is None:
            pool_usage = usage[pool] = {}
        pool_usage[(tenant, tier)] = Usage(float(token_seconds), int(requests), int(prompt), int(generation))
    return by_ts


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def intervals(start: datetime, end: datetime, step: int) -> Iterator[int]:
    yield from range(_ts(start), _ts(end), step)


def build_inputs(
    settings: Settings, start: datetime, end: datetime, telemetry: dict[int, IntervalTelemetry]
) -> ModelInputs:
    """Every interval of the window gets its full inventory cost, whatever telemetry it has."""
    step = settings.interval_seconds
    schedules = price_schedules(settings)
    bytes_per_token = _fallback_bytes_per_token(settings)
    capacity_seen: dict[str, tuple[int, int]] = {}
    out = ModelInputs([], [], [], {}, bytes_per_token)
    empty = IntervalTelemetry({}, [], {})
    splits_seen: dict[Any, InventorySplit] = {}
    fixed = _fixed_policies(settings)
    for ts in intervals(start, end, step):
        tel = telemetry.get(ts, empty)
        costs = tuple(
            (gpu_type, count, _type_cost(schedules[gpu_type], count, ts, step, tel.power.get(gpu_type)))
            for gpu_type, count in sorted(settings.inventory.items())
        )
        # most intervals repeat an earlier one's placement and per-type cost: split each pattern once
        pattern = (
            costs,
            tuple(sorted(tel.gpus.items())),
            tuple(sorted(tel.shares.items())),
            tuple(sorted(tel.memory.items())),
        )
        split = splits_seen.get(pattern)
        if split is None:
            split = splits_seen[pattern] = _split_inventory(costs, tel, settings.catalog)
        pool_cost, pool_memory, pool_gpus, unallocated, unmeasured, sampled = split
        kv_by_pool = _pool_kv(tel, capacity_seen, bytes_per_token)
        for pool, cost in sorted(pool_cost.items()):
            capacity_bytes, ratio = kv_by_pool.get(pool, (_carried(capacity_seen, pool), None))
            out.pool_gpu_counts[(ts, pool)] = pool_gpus[pool]
            out.pool_intervals.append(
                PoolInterval(
                    pool=pool,
                    interval_start_s=ts,
                    interval_seconds=step,
                    cost_usd_micros=cost,
                    memory_bytes=pool_memory[pool],
                    kv_capacity_bytes=capacity_bytes,
                    kv_usage_ratio=ratio,
                    kv_bytes_per_token=bytes_per_token.get(pool, 1),
                    usage=tel.usage.get(pool, {}),
                    fixed_policy=fixed.get(pool, settings.policies.fixed),
                    requests_running=tel.running.get(pool),
                )
            )
        overhead = _overhead(settings, ts, step)
        out.cluster_intervals.append(ClusterInterval(ts, unallocated, unmeasured, overhead))
        out.cluster_cost_rows.append(
            {
                "interval_start": datetime.fromtimestamp(ts, tz=UTC),
                "cost_usd_micros": sum(pool_cost.values()) + unallocated + unmeasured + overhead,
                "overhead_usd_micros": overhead,
                "unallocated_usd_micros": unallocated,
                "unmeasured_usd_micros": unmeasured,
                "gpus_in_inventory": sum(settings.inventory.values()),
                "gpus_sampled": sampled,
            }
        )
    return out


def _type_cost(
    schedule: list[PricingPoint], count: int, ts: int, step: int, power: tuple[int, int] | None
) -> int:
    """A GPU type's cost over one interval: its price schedule's, with a derived price's power part taken
    from the board power dcgm measured where it did (:func:`measured_power_adjustment_usd_micros`)."""
    cost = schedule_span_cost_usd_micros(schedule, count, ts, ts + step)
    if power is None:
        return cost
    return cost + measured_power_adjustment_usd_micros(schedule, count, ts, step, *power)


def _fixed_policies(settings: Settings) -> dict[str, FixedPolicy]:
    """Each configured pool's fixed policy (the first entry of a name); a pool collected under an older
    config and since removed gets the default (``settings.policies.fixed``)."""
    found: dict[str, FixedPolicy] = {}
    for p in settings.pools:
        found.setdefault(p.name, settings.fixed_policy(p))
    return found


def _overhead(settings: Settings, ts: int, step: int) -> int:
    """This interval's share of every monthly overhead in effect for its month."""
    if not settings.overheads:
        return 0
    moment = datetime.fromtimestamp(ts, tz=UTC)
    m0, m1 = period_window(f"{moment.year:04d}-{moment.month:02d}")
    in_effect: dict[str, int] = {}
    for o in sorted(settings.overheads, key=lambda o: o.effective_from):
        if o.effective_from <= m0:
            in_effect[o.name] = o.usd_micros_per_month
    return sum(
        monthly_share_usd_micros(amount, int(m0.timestamp()), int(m1.timestamp()), ts, ts + step)
        for amount in in_effect.values()
    )


InventorySplit = tuple[dict[str, int], dict[str, int], dict[str, int], int, int, int]
"""Per pool: cost, memory bytes, GPUs; then unallocated and unmeasured cost, and GPUs sampled."""


def _split_inventory(
    costs: tuple[tuple[str, int, int], ...], tel: IntervalTelemetry, catalog: Catalog
) -> InventorySplit:
    """Each GPU type's cost (``costs``: type, GPUs in inventory, cost of the interval) split over the
    places its GPUs were seen, and the unseen remainder. The result is shared between intervals with
    the same pattern: callers must not change it.

    The bill is the inventory: N GPUs of a type cost N x price whatever telemetry says. Seen GPUs take
    their share in their pool (or as unallocated); inventory GPUs never seen are unmeasured. Parts of MIG
    and shared GPUs weigh their share of a GPU (ppm), whole GPUs one million each, so a ``3g.40gb``
    instance costs 4/8 of its GPU; parts the collector could not place are unmeasured. A pool's memory
    is what dcgm-exporter reported (FB_USED + FB_FREE + FB_RESERVED) for the whole GPUs that reported it,
    the catalog's framebuffer total for the others, and a part's share of the catalog total for parts.
    """
    pool_cost: dict[str, int] = defaultdict(int)
    pool_memory: dict[str, int] = defaultdict(int)
    pool_gpus: dict[str, int] = defaultdict(int)
    unallocated = unmeasured = sampled = 0
    for gpu_type, count, cost in costs:
        keys = {place for (t, place) in (*tel.gpus, *tel.shares) if t == gpu_type}
        places = sorted((p, tel.gpus.get((gpu_type, p), 0), tel.shares.get((gpu_type, p), 0)) for p in keys)
        # the parts of one GPU sum to a million, so the shares count whole GPUs
        seen = sum(n for _, n, _ in places) + -(-sum(s for _, _, s in places) // PPM)
        sampled += seen
        seen_weights = [n * PPM + s for _, n, s in places]
        # the inventory's GPUs nobody saw, to the millionth: a fraction of a GPU no part covers is unmeasured
        weights = [*seen_weights, max(0, count * PPM - sum(seen_weights))]
        if sum(weights) == 0:
            continue
        parts = allocate(cost, weights)
        unmeasured += parts[-1]
        memory = catalog.gpu(gpu_type).memory_bytes
        for (place, n, share), part in zip(places, parts, strict=False):
            if place == UNALLOCATED:
                unallocated += part
            elif place == UNMEASURED:
                unmeasured += part
            else:
                pool_cost[place] += part
                measured, mib = tel.memory.get((gpu_type, place), (0, 0))
                measured = min(measured, n)
                pool_memory[place] += mib * MIB + (n - measured) * memory + share * memory // PPM
                pool_gpus[place] += n + -(-share // PPM)
    return pool_cost, pool_memory, pool_gpus, unallocated, unmeasured, sampled


def _pool_kv(
    tel: IntervalTelemetry, capacity_seen: dict[str, tuple[int, int]], bpt: dict[str, int]
) -> dict[str, tuple[int | None, float | None]]:
    """Per pool: KV capacity (bytes) and the capacity-weighted mean usage over its engines."""
    # the terms of each sum, added with math.fsum (exactly rounded): the rows' order must not move a bit
    totals: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for pool, ratio, reported_tokens, reported_bpt in tel.kv:
        carried = capacity_seen.get(pool)
        if reported_tokens is not None:
            tokens, per_token = reported_tokens, reported_bpt or bpt.get(pool, 1)
        elif carried is not None:
            tokens, per_token = carried
        else:
            continue
        capacity_seen[pool] = (tokens, per_token)
        bpt[pool] = per_token
        totals[pool][0].append(tokens * per_token)
        totals[pool][1].append(ratio * tokens * per_token)
    sums = {pool: (math.fsum(caps), math.fsum(used)) for pool, (caps, used) in totals.items()}
    return {pool: (round(cap), (used / cap) if cap else None) for pool, (cap, used) in sums.items()}


def _carried(capacity_seen: dict[str, tuple[int, int]], pool: str) -> int | None:
    carried = capacity_seen.get(pool)
    return None if carried is None else carried[0] * carried[1]


def _fallback_bytes_per_token(settings: Settings) -> dict[str, int]:
    """Catalog figure (model dtype, configured TP) until an engine reports its cache dtype."""
    models = {p.name: settings.catalog.model(p.model) for p in settings.pools}
    return {p.name: models[p.name].kv_bytes_per_token(None, p.tensor_parallel_size) for p in settings.pools}


def interval_start(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def window_days(start: datetime, end: datetime) -> float:
    return (end - start) / timedelta(days=1)
