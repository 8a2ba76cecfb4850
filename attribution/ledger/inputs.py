"""Building the model's plain inputs from stored telemetry and the settings, as columns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from attribution.config import Settings
from attribution.ledger.kv_columns import pool_kv
from attribution.ledger.telemetry import (
    UNALLOCATED,
    UNMEASURED,
    IntervalTelemetry,
    TelemetryColumns,
    group_telemetry,
    telemetry_columns,
)
from attribution.model.attribute import ClusterInterval
from attribution.model.derived_price import (
    DerivedPoint,
    PricingPoint,
    measured_power_adjustment_usd_micros,
    schedule_span_cost_usd_micros,
)
from attribution.model.gpu_cost import PricePoint, monthly_share_usd_micros
from attribution.model.split import LineKey, PoolInterval, Usage
from attribution.model.vectorized_inventory import (
    InventorySplit,
    PlaceRows,
    PoolTotals,
    direct_span_costs_usd_micros,
    monthly_shares_usd_micros,
    pool_totals,
    split_inventory,
)
from attribution.model.vectorized_kernels import I64, as_int64, group_sum
from attribution.model.vectorized_pools import POLICY_CODE, PoolColumns
from attribution.model.vocabulary import FixedPolicy
from attribution.store.kv_sample_columns import KvSampleColumns
from attribution.timeutil import period_window

__all__ = ["UNALLOCATED", "UNMEASURED", "IntervalTelemetry", "TelemetryColumns", "group_telemetry"]


@dataclass(slots=True)
class ModelInputs:
    pools: PoolColumns
    """The window's pool-intervals, in (start, pool) order."""
    pool_gpus: I64
    """GPUs of each of them (a part counts as one)."""
    cluster_intervals: list[ClusterInterval]
    cluster_cost_rows: list[dict[str, Any]]
    bytes_per_token: dict[str, int]
    usage: dict[int, dict[str, dict[LineKey, Usage]]] = field(default_factory=dict)
    """Usage carried by the telemetry (not the job's: it reads usage as columns), by interval and pool."""

    @property
    def pool_intervals(self) -> list[PoolInterval]:
        """The pool-intervals as the reference engine's objects, with the telemetry's usage."""
        return [
            replace(p, usage=self.usage.get(p.interval_start_s, {}).get(p.pool, {}))
            for p in self.pools.to_objects()
        ]


def price_schedules(settings: Settings) -> dict[str, list[PricingPoint]]:
    """Each GPU type's effective-dated prices, direct or derived from a purchase, by effective date."""
    schedules: dict[str, list[PricingPoint]] = defaultdict(list)
    for price in settings.gpu_prices:
        schedules[price.gpu_type].append(price.point())
    return {k: sorted(v, key=lambda p: p.effective_from_s) for k, v in schedules.items()}


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def build_inputs(
    settings: Settings,
    start: datetime,
    end: datetime,
    telemetry: TelemetryColumns | dict[int, IntervalTelemetry],
    kv_samples: KvSampleColumns | Sequence[Any] = (),
) -> ModelInputs:
    """Every interval of the window gets its full inventory cost, whatever telemetry it has.
    ``kv_samples``: the engines' samples, as the job's columns or rows in the column order of
    :func:`attribution.store.inputs.kv_samples` (tests, the reference).

    Columns throughout: each (interval, GPU type)'s cost is split over the places its GPUs were seen in
    one pass (:func:`split_inventory`), direct prices and overheads by the window or month; derived prices
    (exact fractions) are evaluated per interval, and the cluster rows are built per interval."""
    columns = telemetry if isinstance(telemetry, TelemetryColumns) else telemetry_columns(telemetry)
    step = settings.interval_seconds
    starts = np.arange(_ts(start), _ts(end), step, dtype=np.int64)
    types = sorted(settings.inventory)
    inventory = as_int64([settings.inventory[t] for t in types])
    rows, powered, milliwatts = _place_rows(columns, types, starts, step)
    type_cost = _type_costs(settings, types, starts, step, powered, milliwatts)
    is_pool = as_int64([int(p not in (UNALLOCATED, UNMEASURED)) for p in columns.places])
    split = split_inventory(
        type_cost, inventory, rows, _code(columns.places, UNALLOCATED), _code(columns.places, UNMEASURED)
    )
    used = np.unique(rows.gpu_type[split.kept == 1])
    frame = np.zeros(len(types), dtype=np.int64)
    frame[used] = [settings.catalog.gpu(types[int(k)]).memory_bytes for k in used]
    totals = pool_totals(rows, split, frame, is_pool)
    codes, pool = np.unique(totals.place, return_inverse=True)
    names = [columns.places[int(c)] for c in codes]
    start_s = starts[totals.interval]
    cluster_intervals, cluster_cost_rows = _cluster_rows(settings, starts, split, totals)
    fallback_bytes_per_token = _fallback_bytes_per_token(settings)
    pool = pool.reshape(-1).astype(np.int64)
    kv = pool_kv(kv_samples, names, start_s, pool, fallback_bytes_per_token, (_ts(start), _ts(end), step))
    fixed = _fixed_policies(settings)
    policy_of = [POLICY_CODE[fixed.get(name, settings.policies.fixed)] for name in names]
    pools = PoolColumns(
        pools=names,
        start=start_s,
        pool=pool,
        seconds=np.full(start_s.size, step, dtype=np.int64),
        cost=totals.cost,
        memory=totals.memory_bytes,
        kv_capacity=kv.capacity,
        has_capacity=kv.has_capacity,
        kv_ratio=kv.ratio,
        has_ratio=kv.has_ratio,
        bytes_per_token=kv.bytes_per_token,
        policy=np.array(policy_of or [0], dtype=np.int64)[pool],
        running=kv.running,
        recovering=np.zeros(start_s.size, dtype=np.bool_),
    )
    return ModelInputs(
        pools, totals.gpus, cluster_intervals, cluster_cost_rows, kv.final_bytes_per_token, columns.usage
    )


def _code(names: list[str], name: str) -> int:
    """``name``'s index in ``names``, -1 if absent (no row has it)."""
    return names.index(name) if name in names else -1


def _place_rows(
    columns: TelemetryColumns, types: list[str], starts: I64, step: int
) -> tuple[PlaceRows, I64, I64]:
    """The rows of the window's intervals and the inventory's types, one per (interval, type, place)
    seen; and per (interval, type) the GPUs whose board power dcgm reported and their milliwatts."""
    n_types = len(types)
    index = {name: i for i, name in enumerate(types)}
    type_of = as_int64([index.get(name, -1) for name in columns.types])
    gpu_type = type_of[columns.gpu_type] if columns.gpu_type.size else columns.gpu_type
    offset = columns.start_s - (int(starts[0]) if starts.size else 0)
    inside = (gpu_type >= 0) & (offset >= 0) & (offset % step == 0) & (offset // step < starts.size)
    interval = offset[inside] // step
    group = interval * n_types + gpu_type[inside]
    width = max(len(columns.places), 1)
    keys, sums = group_sum(
        group * width + columns.place[inside],
        [
            getattr(columns, name)[inside]
            for name in ("gpus", "share_ppm", "measured_gpus", "measured_mib", "seen", "powered_gpus")
        ]
        + [columns.milliwatts[inside]],
    )
    gpus, share, measured, mib, seen, powered, milliwatts = sums
    by_type = np.zeros(starts.size * n_types, dtype=np.int64)
    power = [by_type.copy(), by_type.copy()]
    np.add.at(power[0], keys // width, powered)
    np.add.at(power[1], keys // width, milliwatts)
    at = seen > 0
    group_of_row = keys[at] // width
    rows = PlaceRows(
        group_of_row // max(n_types, 1),
        group_of_row % max(n_types, 1),
        keys[at] % width,
        gpus[at],
        share[at],
        measured[at],
        mib[at],
    )
    return rows, power[0], power[1]


def _type_costs(
    settings: Settings, types: list[str], starts: I64, step: int, powered: I64, milliwatts: I64
) -> I64:
    """``[interval, type]``: each inventory type's cost in each interval, its price schedule's
    (direct prices in one pass, derived ones per interval), with a derived price's power part taken from
    the board power dcgm measured where it did and the price in effect can use it
    (:func:`measured_power_adjustment_usd_micros`)."""
    schedules = price_schedules(settings) if starts.size else {}
    cost = np.zeros((starts.size, len(types)), dtype=np.int64)
    spans = starts.tolist()
    for k, gpu_type in enumerate(types):
        schedule, count = schedules.get(gpu_type), settings.inventory[gpu_type]
        if not spans:
            continue
        if schedule is None:
            raise KeyError(gpu_type)
        direct = [p for p in schedule if isinstance(p, PricePoint)]
        found = (
            direct_span_costs_usd_micros(direct, count, starts, step)
            if len(direct) == len(schedule)
            else None
        )
        if found is None:  # a derived price, or a span the columns cannot prove exact: per interval
            found = as_int64([schedule_span_cost_usd_micros(schedule, count, ts, ts + step) for ts in spans])
        cost[:, k] = found
        if not any(isinstance(p, DerivedPoint) and p.measured_power for p in schedule):
            continue  # the adjustment is 0 for any measurement
        for i in np.flatnonzero(powered.reshape(-1, len(types))[:, k] > 0).tolist():
            n = int(powered[i * len(types) + k])
            mw = int(milliwatts[i * len(types) + k])
            cost[i, k] += measured_power_adjustment_usd_micros(schedule, count, spans[i], step, n, mw)
    return cost


def _cluster_rows(
    settings: Settings, starts: I64, split: InventorySplit, totals: PoolTotals
) -> tuple[list[ClusterInterval], list[dict[str, Any]]]:
    """Per interval, the model's cluster interval and its ``cluster_costs`` row."""
    pool_cost = np.zeros(starts.size, dtype=np.int64)
    np.add.at(pool_cost, totals.interval, totals.cost)
    step, in_inventory = settings.interval_seconds, sum(settings.inventory.values())
    cluster_intervals: list[ClusterInterval] = []
    cluster_cost_rows: list[dict[str, Any]] = []
    for ts, pools, unallocated, unmeasured, sampled, overhead in zip(
        starts.tolist(),
        pool_cost.tolist(),
        split.unallocated.tolist(),
        split.unmeasured.tolist(),
        split.sampled.tolist(),
        _overheads(settings, starts, step).tolist(),
        strict=True,
    ):
        cluster_intervals.append(ClusterInterval(ts, unallocated, unmeasured, overhead))
        cluster_cost_rows.append(
            {
                "interval_start": datetime.fromtimestamp(ts, tz=UTC),
                "cost_usd_micros": pools + unallocated + unmeasured + overhead,
                "overhead_usd_micros": overhead,
                "unallocated_usd_micros": unallocated,
                "unmeasured_usd_micros": unmeasured,
                "gpus_in_inventory": in_inventory,
                "gpus_sampled": sampled,
            }
        )
    return cluster_intervals, cluster_cost_rows


def _fixed_policies(settings: Settings) -> dict[str, FixedPolicy]:
    """Each configured pool's fixed policy (the first entry of a name); a pool collected under an older
    config and since removed gets the default (``settings.policies.fixed``)."""
    found: dict[str, FixedPolicy] = {}
    for p in settings.pools:
        found.setdefault(p.name, settings.fixed_policy(p))
    return found


def _overheads(settings: Settings, starts: I64, step: int) -> I64:
    """Each interval's share of every monthly overhead in effect for its month, a month at a time
    (:func:`monthly_shares_usd_micros`; per interval where it declines)."""
    out = np.zeros(starts.size, dtype=np.int64)
    i = 0
    while settings.overheads and i < starts.size:
        moment = datetime.fromtimestamp(int(starts[i]), tz=UTC)
        m0, m1 = period_window(f"{moment.year:04d}-{moment.month:02d}")
        m0_s, m1_s = int(m0.timestamp()), int(m1.timestamp())
        j = max(int(np.searchsorted(starts, m1_s)), i + 1)
        for amount in _in_effect(settings, m0).values():
            part = monthly_shares_usd_micros(amount, m0_s, m1_s, starts[i:j], step)
            if part is None:
                spans = starts[i:j].tolist()
                part = as_int64([monthly_share_usd_micros(amount, m0_s, m1_s, t, t + step) for t in spans])
            out[i:j] += part
        i = j
    return out


def _in_effect(settings: Settings, month_start: datetime) -> dict[str, int]:
    """Each overhead's monthly amount in the month starting at ``month_start``: its latest change that
    took effect by then (a change applies from the first month that starts on or after it)."""
    in_effect: dict[str, int] = {}
    for o in sorted(settings.overheads, key=lambda o: o.effective_from):
        if o.effective_from <= month_start:
            in_effect[o.name] = o.usd_micros_per_month
    return in_effect


def _fallback_bytes_per_token(settings: Settings) -> dict[str, int]:
    """Catalog figure (model dtype, configured TP) until an engine reports its cache dtype."""
    models = {p.name: settings.catalog.model(p.model) for p in settings.pools}
    return {p.name: models[p.name].kv_bytes_per_token(None, p.tensor_parallel_size) for p in settings.pools}


def interval_start(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
