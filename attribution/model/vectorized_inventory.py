"""The inventory split of the attribution job's inputs as columns: each (interval, GPU type)'s cost over
the places its GPUs were seen, the unseen remainder unmeasured, in one pass of the grouped kernels.

It replaces one ``money.allocate`` per interval and type (``_split_inventory``, kept as the test oracle in
``tests/support/inventory_reference.py``): on a real cluster every interval's measured memory differs,
so no two intervals share a placement pattern and the per-interval loop ran 43,200 times a month. The
parts are the reference's to the micro-dollar, ties included (``largest_remainder`` is ``allocate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attribution.model.gpu_cost import SECONDS_PER_HOUR, PricePoint
from attribution.model.vectorized_kernels import I64, group_of, group_sum, largest_remainder

#: A GPU's parts (MIG instances, shares of a shared GPU) are counted in parts per million of the GPU.
PPM = 1_000_000
MIB_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PlaceRows:
    """The telemetry of one (interval, GPU type, place) per row, sorted by interval, type, then place
    code, each a place its type was seen in (counts non-negative, ``gpus`` and ``share_ppm`` zero only
    where hand-written telemetry says so). Place codes sort as the place names do, so a group's rows
    are in the reference's (sorted) order."""

    interval: I64
    """Index of the interval in the window."""
    gpu_type: I64
    """Index of the GPU type in the inventory's sorted types."""
    place: I64
    gpus: I64
    share_ppm: I64
    measured_gpus: I64
    """Whole GPUs whose framebuffer dcgm reported, and the sum of their totals in MiB."""
    measured_mib: I64


@dataclass(frozen=True, slots=True)
class InventorySplit:
    row_cost: I64
    """Each place row's part of its (interval, type) cost."""
    unmeasured: I64
    """Per interval: inventory nobody saw, and parts the collector could not place."""
    unallocated: I64
    """Per interval: GPUs seen serving no pool."""
    sampled: I64
    """Per interval: GPUs seen, the parts of a type rounded up to whole GPUs."""
    kept: I64
    """1 for each row whose group was split (0: a group of no weight, which the reference skips)."""


def ceil_gpus(share_ppm: I64) -> I64:
    """Whole GPUs that parts summing to ``share_ppm`` stand for (the parts of one GPU sum to a million)."""
    return -(-share_ppm // PPM)


def split_inventory(
    type_cost: I64, inventory: I64, rows: PlaceRows, unallocated: int, unmeasured: int
) -> InventorySplit:
    """``type_cost[i, k]``: type k's cost in interval i, for ``inventory[k]`` GPUs. Each (i, k) splits its
    cost by largest remainder over its place rows (a whole GPU weighs a million, a part its ppm) and the
    inventory nobody saw (``inventory[k]`` millions less what was seen, at least 0), in that order. A
    group of no weight at all (no GPUs of the type, none seen) is skipped, as the reference skips it.
    ``unallocated`` and ``unmeasured``: the place codes of GPUs serving no pool and of unplaced parts."""
    n_intervals, n_types = type_cost.shape
    n_groups = n_intervals * n_types
    group = rows.interval * n_types + rows.gpu_type
    weight = rows.gpus * PPM + rows.share_ppm
    per_group = np.bincount(group, minlength=n_groups).astype(np.int64)
    seen_weight = _sum_by(group, weight, n_groups)
    rest_weight = np.maximum(0, np.tile(inventory * PPM, n_intervals) - seen_weight)
    weighed = seen_weight + rest_weight != 0
    totals = np.where(weighed, type_cost.reshape(-1), 0)
    # each group's elements: its rows in order, then the remainder
    counts = per_group + 1
    offsets = np.cumsum(counts) - counts
    first_row = np.cumsum(per_group) - per_group
    row_at = offsets[group] + np.arange(group.size, dtype=np.int64) - first_row[group]
    rest_at = offsets + per_group
    weights = np.zeros(int(counts.sum()), dtype=np.int64)
    weights[row_at] = weight
    weights[rest_at] = rest_weight
    # a credit (negative cost) splits by its absolute value, then negated, as money.allocate does
    sign = np.where(totals < 0, -1, 1)
    parts = largest_remainder(np.abs(totals), counts, weights) * sign[group_of(counts)]
    row_cost = parts[row_at]
    unmeasured_cost = parts[rest_at].reshape(n_intervals, n_types).sum(axis=1)
    placed = rows.place == unmeasured
    unmeasured_cost += _sum_by(rows.interval[placed], row_cost[placed], n_intervals)
    idle = rows.place == unallocated
    unallocated_cost = _sum_by(rows.interval[idle], row_cost[idle], n_intervals)
    shares = _sum_by(group, rows.share_ppm, n_groups)
    gpus = _sum_by(group, rows.gpus, n_groups)
    sampled = (gpus + ceil_gpus(shares)).reshape(n_intervals, n_types).sum(axis=1)
    kept = weighed[group].astype(np.int64)
    return InventorySplit(row_cost, unmeasured_cost, unallocated_cost, sampled, kept)


@dataclass(frozen=True, slots=True)
class PoolTotals:
    """Per (interval, pool) with GPUs of an inventory type, by interval then place code."""

    interval: I64
    place: I64
    cost: I64
    memory_bytes: I64
    gpus: I64


def pool_totals(rows: PlaceRows, split: InventorySplit, memory_bytes: I64, is_pool: I64) -> PoolTotals:
    """Each pool's cost, memory and GPUs per interval, summed over GPU types. ``memory_bytes[k]``: the
    catalog's framebuffer of type k; ``is_pool[place]``: 1 for a pool's code. A pool's memory is what
    dcgm reported for the whole GPUs that reported it (their MiB, all of it, however many of them), the
    catalog's total for its other whole GPUs and a part's share of it for parts; a part counts as a GPU."""
    mask = (is_pool[rows.place] == 1) & (split.kept == 1)
    row_cost = split.row_cost
    n, share = rows.gpus[mask], rows.share_ppm[mask]
    frame = memory_bytes[rows.gpu_type[mask]]
    unmeasured_gpus = n - np.minimum(rows.measured_gpus[mask], n)
    # share x frame // PPM, split so the product stays in int64 for any share
    part_bytes = (share // PPM) * frame + (share % PPM) * frame // PPM
    memory = rows.measured_mib[mask] * MIB_BYTES + unmeasured_gpus * frame + part_bytes
    width = int(is_pool.size)
    keys, (cost, mem, gpus) = group_sum(
        rows.interval[mask] * width + rows.place[mask], [row_cost[mask], memory, n + ceil_gpus(share)]
    )
    return PoolTotals(keys // width, keys % width, cost, mem, gpus)


def _sum_by(index: I64, values: I64, size: int) -> I64:
    """Exact int64 sums of ``values`` by ``index`` in ``range(size)`` (``np.bincount`` sums in floats)."""
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, index, values)
    return out


def direct_span_costs_usd_micros(
    schedule: Sequence[PricePoint], gpu_count: int, starts: I64, step_s: int
) -> I64 | None:
    """``span_cost_usd_micros(schedule, gpu_count, t, t + step_s)`` for each of the consecutive interval
    ``starts`` (``starts[i + 1] == starts[i] + step_s``), in one pass instead of one call per interval.

    The accrued cost ``A(t)`` is the reference's (price x GPUs x seconds, exact); with ``A(a) = 3600 q + r``
    at the first start ``a``, ``floor(A(t) / 3600) = q + floor((r + A(t) - A(a)) / 3600)``, and the
    intervals' differences drop ``q``: only ``A(t) - A(a)``, bounded by the window, is taken in int64.
    None (the caller goes interval by interval) where that bound is not proven below 2**62, or where the
    reference would refuse the span (no price in effect at ``a``): it raises there, as before."""
    if starts.size == 0 or not schedule or int(starts[0]) < schedule[0].effective_from_s or step_s < 0:
        return None
    first = int(starts[0])
    offsets = np.append(starts, starts[-1] + step_s) - first
    window_s = int(offsets[-1])
    accrued_before = 0
    delta = np.zeros(offsets.size, dtype=np.int64)
    bound = 0
    for i, point in enumerate(schedule):
        rate = point.usd_micros_per_gpu_hour * gpu_count
        begin = point.effective_from_s - first
        end = schedule[i + 1].effective_from_s - first if i + 1 < len(schedule) else window_s
        if begin < 0:  # accrued before the window, in Python integers
            accrued_before += rate * (min(end, 0) - begin)
        length = min(end, window_s) - max(begin, 0)
        if length <= 0:
            continue
        bound += abs(rate) * length
        if bound >= 2**62:
            return None
        delta += rate * np.clip(np.minimum(offsets, end) - max(begin, 0), 0, None)
    floored = (accrued_before % SECONDS_PER_HOUR + delta) // SECONDS_PER_HOUR
    return np.diff(floored)


def monthly_shares_usd_micros(
    monthly_usd_micros: int, month_start_s: int, month_end_s: int, starts: I64, step_s: int
) -> I64 | None:
    """``monthly_share_usd_micros`` for each interval of ``starts`` (all inside the month), in one pass:
    the same telescoping floors. None (the caller goes per interval, where the reference raises or takes
    Python integers) for an interval outside the month or a product that might not fit in int64."""
    span = month_end_s - month_start_s
    if starts.size == 0 or step_s < 0 or int(starts[0]) < month_start_s:
        return None
    if int(starts[-1]) + step_s > month_end_s or abs(monthly_usd_micros) * span >= 2**62:
        return None
    since = starts - month_start_s
    return monthly_usd_micros * (since + step_s) // span - monthly_usd_micros * since // span
