"""The attribution job's inputs as ``ledger.inputs`` built them before they became columns: the test
oracle of :func:`attribution.ledger.inputs.build_inputs` and ``group_telemetry``.

Per interval in Python: the telemetry as dicts per interval (``group_telemetry``), each interval's
per-type cost and placement pattern, and one ``money.allocate`` per GPU type and pattern
(``_split_inventory``). Kept verbatim (renamed) so the columns can be checked against it on any input.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from attribution.catalog import Catalog
from attribution.catalog.gpus import MIB
from attribution.config import Settings
from attribution.ledger.inputs import (
    ModelInputs,
    _fallback_bytes_per_token,
    _fixed_policies,
    _ts,
    price_schedules,
)
from attribution.ledger.kv_columns import pool_kv
from attribution.ledger.telemetry import UNALLOCATED, UNMEASURED, IntervalTelemetry
from attribution.model.attribute import ClusterInterval
from attribution.model.derived_price import (
    PricingPoint,
    measured_power_adjustment_usd_micros,
    schedule_span_cost_usd_micros,
)
from attribution.model.gpu_cost import monthly_share_usd_micros
from attribution.model.money import allocate
from attribution.model.split import LineKey, Usage
from attribution.model.vectorized_kernels import I64, as_int64
from attribution.model.vectorized_pools import POLICY_CODE, PoolColumns
from attribution.timeutil import period_window

PPM = 1_000_000


def reference_group_telemetry(
    gpu_count_rows: Sequence[Any], usage_rows: Sequence[Any] = ()
) -> dict[int, IntervalTelemetry]:
    """Rows by interval (``interval_start_s``, Unix seconds), each in the column order of its reader in
    :mod:`attribution.store.inputs`: ``gpu_counts`` and ``tenant_usage`` (the job reads usage as columns
    instead and passes none here). KV samples go to :func:`build_inputs` as they are read."""
    by_ts: dict[int, IntervalTelemetry] = defaultdict(lambda: IntervalTelemetry({}, {}))
    # the driver's tuples, in the order of store.inputs.GPU_COUNT_COLUMNS, unpacked by position
    for (
        ts,
        gpu_type,
        pool,
        unplaced,
        gpu_count,
        share,
        measured_count,
        mib,
        powered,
        mw,
        *_,
    ) in gpu_count_rows:
        if gpu_type is None:  # outside the catalog: not on the bill (incident detection reads these rows)
            continue
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


def intervals(start: datetime, end: datetime, step: int) -> Iterator[int]:
    yield from range(_ts(start), _ts(end), step)


def reference_build_inputs(
    settings: Settings,
    start: datetime,
    end: datetime,
    telemetry: dict[int, IntervalTelemetry],
    kv_rows: Sequence[Any] = (),
) -> ModelInputs:
    """Every interval of the window gets its full inventory cost, whatever telemetry it has.
    ``kv_rows``: the engines' samples, in the column order of :func:`attribution.store.inputs.kv_samples`.

    Python works per interval (prices, the placement pattern); the pool-intervals are columns: each
    interval's pools are its pattern's, gathered by index (:func:`_pool_rows`)."""
    step = settings.interval_seconds
    schedules = price_schedules(settings)
    fallback_bytes_per_token = _fallback_bytes_per_token(settings)
    empty = IntervalTelemetry({}, {})
    splits_seen: dict[Any, int] = {}
    splits: list[InventorySplit] = []
    starts: list[int] = []
    pattern_of: list[int] = []
    cluster_intervals: list[ClusterInterval] = []
    cluster_cost_rows: list[dict[str, Any]] = []
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
        found = splits_seen.get(pattern)
        if found is None:
            found = splits_seen[pattern] = len(splits)
            splits.append(_split_inventory(costs, tel, settings.catalog))
        starts.append(ts)
        pattern_of.append(found)
        pool_cost, _, _, unallocated, unmeasured, sampled = splits[found]
        overhead = _overhead(settings, ts, step)
        cluster_intervals.append(ClusterInterval(ts, unallocated, unmeasured, overhead))
        cluster_cost_rows.append(
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
    names, start_s, pool, cost, memory, gpus = _pool_rows(splits, as_int64(starts), as_int64(pattern_of))
    kv = pool_kv(kv_rows, names, start_s, pool, fallback_bytes_per_token, (_ts(start), _ts(end), step))
    fixed = _fixed_policies(settings)
    policy_of = [POLICY_CODE[fixed.get(name, settings.policies.fixed)] for name in names]
    pools = PoolColumns(
        pools=names,
        start=start_s,
        pool=pool,
        seconds=np.full(start_s.size, step, dtype=np.int64),
        cost=cost,
        memory=memory,
        kv_capacity=kv.capacity,
        has_capacity=kv.has_capacity,
        kv_ratio=kv.ratio,
        has_ratio=kv.has_ratio,
        bytes_per_token=kv.bytes_per_token,
        policy=np.array(policy_of or [0], dtype=np.int64)[pool],
        running=kv.running,
        recovering=np.zeros(start_s.size, dtype=np.bool_),
    )
    usage = {ts: tel.usage for ts, tel in telemetry.items() if tel.usage}
    return ModelInputs(pools, gpus, cluster_intervals, cluster_cost_rows, kv.final_bytes_per_token, usage)


def _pool_rows(
    splits: list[InventorySplit], starts: I64, pattern_of: I64
) -> tuple[list[str], I64, I64, I64, I64, I64]:
    """Pool names, then per pool-interval (start, then pool name order): start, pool code, cost, memory
    bytes and GPUs: each interval takes its pattern's pools, gathered by index, never row by row."""
    names = sorted({name for split in splits for name in split[0]})
    code = {name: i for i, name in enumerate(names)}
    per_pattern = [sorted(split[0]) for split in splits]
    lengths = as_int64([len(p) for p in per_pattern])
    flat_pool = as_int64([code[name] for p in per_pattern for name in p])
    cost: list[int] = []
    memory: list[int] = []
    gpus: list[int] = []
    for (pool_cost, pool_memory, pool_gpus, *_), names_of in zip(splits, per_pattern, strict=True):
        cost.extend(pool_cost[name] for name in names_of)
        memory.extend(pool_memory[name] for name in names_of)
        gpus.extend(pool_gpus[name] for name in names_of)
    flat = [as_int64(cost), as_int64(memory), as_int64(gpus)]
    offsets = np.cumsum(lengths) - lengths
    counts = lengths[pattern_of] if pattern_of.size else lengths[:0]
    interval = np.repeat(np.arange(pattern_of.size, dtype=np.int64), counts)
    within = np.arange(interval.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    src = offsets[pattern_of][interval] + within if interval.size else interval
    return names, starts[interval], flat_pool[src], flat[0][src], flat[1][src], flat[2][src]


def _type_cost(
    schedule: list[PricingPoint], count: int, ts: int, step: int, power: tuple[int, int] | None
) -> int:
    """A GPU type's cost over one interval: its price schedule's, with a derived price's power part taken
    from the board power dcgm measured where it did (:func:`measured_power_adjustment_usd_micros`)."""
    cost = schedule_span_cost_usd_micros(schedule, count, ts, ts + step)
    if power is None:
        return cost
    return cost + measured_power_adjustment_usd_micros(schedule, count, ts, step, *power)


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


def assert_same(new: ModelInputs, old: ModelInputs) -> None:
    """Every output of the columns equals the reference's: arrays in dtype, shape and value."""
    for f in dataclasses.fields(new.pools):
        a, b = getattr(new.pools, f.name), getattr(old.pools, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f.name
        else:
            assert a == b, f.name
    assert new.pool_gpus.dtype == old.pool_gpus.dtype and new.pool_gpus.tolist() == old.pool_gpus.tolist()
    assert new.cluster_intervals == old.cluster_intervals
    assert new.cluster_cost_rows == old.cluster_cost_rows
    assert new.bytes_per_token == old.bytes_per_token
    assert new.usage == old.usage


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
