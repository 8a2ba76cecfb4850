"""A GPU-hour price derived from what the GPU cost to buy and run: capex, power and colocation, exactly.

A derived price has three parts per GPU:

- **capex**: ``(purchase - residual) / (gpus per purchase x N)`` per calendar month for the N months from
  its start, straight-line; nothing after. The residual is what the GPU is still worth: never charged.
- **colocation**: ``colocation per unit / gpus per unit`` per calendar month (a rack or a node).
- **power**: ``watts x PUE x price per kWh / 1000`` per GPU-hour (watts is a nameplate figure); with
  ``measured_power``, the GPUs dcgm reported in an interval are costed at their measured energy instead
  (:func:`measured_power_adjustment_usd_micros`).

Rounding rule: nothing is rounded until an interval is costed. The cost accrued by one GPU since the start
of its price schedule is an exact rational ``A(t)``: the monthly parts accrue linearly over each calendar
month (by seconds), power by the second. ``n`` GPUs cost ``floor(n A(b)) - floor(n A(a))`` over ``[a, b)``,
so intervals telescope: any run of intervals sums to the floor of the exact figure for the whole span, and
a month whose hand-worked cost is whole micro-USD (as it is whenever each monthly part is) is reproduced to
the micro-dollar, whatever the month's length. Direct prices in the same schedule accrue the same way, and
a schedule of direct prices only gives exactly what :mod:`attribution.model.gpu_cost` gives.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache

from attribution.model.gpu_cost import SECONDS_PER_HOUR, PricePoint, span_cost_usd_micros

WATTS_PER_KILOWATT = 1000


@dataclass(frozen=True, slots=True, eq=False)
class DerivedPoint:
    """A derived price that applies from ``effective_from_s`` (the first instant of a UTC month, when the
    purchase starts depreciating) until the next point of the schedule. Amounts in integer micro-USD.

    Compared and hashed by identity: the per-month lines of a schedule are cached by its points, and a
    hash over a Fraction field would cost more than the arithmetic it saves."""

    effective_from_s: int
    purchase_usd_micros: int
    gpus_per_purchase: int
    residual_usd_micros: int
    depreciation_months: int
    watts_per_gpu: int
    pue: Fraction
    usd_micros_per_kwh: int
    colocation_usd_micros_per_month: int
    gpus_per_colocation: int
    measured_power: bool = False
    """Take the power part from the energy dcgm measured, where it did (the nameplate elsewhere)."""

    def __post_init__(self) -> None:
        if not is_month_start(self.effective_from_s):
            raise ValueError("a derived price starts depreciating at the first instant of a UTC month")

    @property
    def capex_usd_micros_per_gpu_month(self) -> Fraction:
        """Straight-line depreciation of one GPU per month, while the purchase depreciates."""
        depreciable = self.purchase_usd_micros - self.residual_usd_micros
        return Fraction(depreciable, self.gpus_per_purchase * self.depreciation_months)

    @property
    def colocation_usd_micros_per_gpu_month(self) -> Fraction:
        return Fraction(self.colocation_usd_micros_per_month, self.gpus_per_colocation)

    @property
    def power_usd_micros_per_gpu_hour(self) -> Fraction:
        return self.watts_per_gpu * self.pue * self.usd_micros_per_kwh / WATTS_PER_KILOWATT


PricingPoint = PricePoint | DerivedPoint
"""One effective-dated price of a GPU type: given directly, or derived from a purchase."""


@lru_cache(maxsize=4096)
def month_of(t_s: int) -> tuple[int, int, int]:
    """``(months since 1970-01, first second of t's UTC month, first second of the next)``."""
    moment = datetime.fromtimestamp(t_s, tz=UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    nxt = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return (moment.year - 1970) * 12 + moment.month - 1, int(start.timestamp()), int(nxt.timestamp())


def is_month_start(t_s: int) -> bool:
    return month_of(t_s)[1] == t_s


@lru_cache(maxsize=1024)
def _month_line(point: DerivedPoint, index: int) -> tuple[Fraction, Fraction, int]:
    """Within month ``index`` (months since 1970-01) the accrued cost of one GPU is a line: ``(accrued at
    the month's start, accrual per second, the month's first second)``, all exact."""
    elapsed = index - month_of(point.effective_from_s)[0]
    year, month = divmod(index, 12)
    m0 = int(datetime(1970 + year, month + 1, 1, tzinfo=UTC).timestamp())
    m1 = month_of(m0)[2]
    depreciating = elapsed < point.depreciation_months
    capex = point.capex_usd_micros_per_gpu_month
    power = point.power_usd_micros_per_gpu_hour
    base = (
        capex * min(elapsed, point.depreciation_months)
        + point.colocation_usd_micros_per_gpu_month * elapsed
        + power * Fraction(m0 - point.effective_from_s, SECONDS_PER_HOUR)
    )
    monthly = (capex if depreciating else 0) + point.colocation_usd_micros_per_gpu_month
    return base, monthly / (m1 - m0) + power / SECONDS_PER_HOUR, m0


def _derived_accrued(point: DerivedPoint, t_s: int) -> Fraction:
    """Exact micro-USD one GPU accrues under ``point`` over ``[point.effective_from_s, t_s)``: the monthly
    parts linearly over each calendar month, power by the second."""
    if t_s <= point.effective_from_s:
        return Fraction(0)
    base, per_second, m0 = _month_line(point, month_of(t_s)[0])
    return base + per_second * (t_s - m0)


def accrued_usd_micros(schedule: Sequence[PricingPoint], t_s: int) -> Fraction:
    """Exact micro-USD one GPU accrues from the schedule's first point until ``t_s``."""
    total = Fraction(0)
    for i, point in enumerate(schedule):
        if point.effective_from_s >= t_s:
            break
        seg_end = min(schedule[i + 1].effective_from_s if i + 1 < len(schedule) else t_s, t_s)
        if isinstance(point, DerivedPoint):
            total += _derived_accrued(point, seg_end)
        else:
            total += Fraction(
                point.usd_micros_per_gpu_hour * (seg_end - point.effective_from_s), SECONDS_PER_HOUR
            )
    return total


@lru_cache(maxsize=8192)
def _line(schedule: tuple[PricingPoint, ...], segment: int, month_index: int) -> tuple[int, int, int, int]:
    """Where ``schedule[segment]`` applies, within month ``month_index`` for a derived point, one GPU's
    accrued cost is ``(base + slope x (t - origin)) / den``: ``(base, slope, den, origin)``, integers."""
    point = schedule[segment]
    prior = accrued_usd_micros(schedule[:segment], point.effective_from_s)
    if isinstance(point, DerivedPoint):
        base, per_second, origin = _month_line(point, month_index)
        base += prior
    else:
        base = prior
        per_second, origin = Fraction(point.usd_micros_per_gpu_hour, SECONDS_PER_HOUR), point.effective_from_s
    den = math.lcm(base.denominator, per_second.denominator)
    return int(base * den), int(per_second * den), den, origin


def _floored(schedule: tuple[PricingPoint, ...], gpu_count: int, t_s: int) -> int:
    """``floor(gpu_count x A(t_s))`` in integers, from the cached line of ``t_s``'s segment and month."""
    segment = bisect_right([p.effective_from_s for p in schedule], t_s) - 1
    base, slope, den, origin = _line(schedule, segment, month_of(t_s)[0])
    return gpu_count * (base + slope * (t_s - origin)) // den


def schedule_span_cost_usd_micros(
    schedule: Sequence[PricingPoint], gpu_count: int, start_s: int, end_s: int
) -> int:
    """Cost of ``gpu_count`` GPUs over ``[start_s, end_s)`` by telescoping floors of the exact accrued cost;
    ``schedule`` sorted by effective date. Direct-only schedules take the integer path of ``gpu_cost``."""
    if all(isinstance(p, PricePoint) for p in schedule):
        direct = [p for p in schedule if isinstance(p, PricePoint)]
        return span_cost_usd_micros(direct, gpu_count, start_s, end_s)
    if end_s < start_s:
        raise ValueError("end before start")
    if start_s < schedule[0].effective_from_s:
        raise ValueError("no GPU price is in effect at the start of the span")
    points = tuple(schedule)
    return _floored(points, gpu_count, end_s) - _floored(points, gpu_count, start_s)


@dataclass(frozen=True, slots=True)
class MonthParts:
    """What one GPU of a derived price costs in one calendar month, part by part, exact micro-USD."""

    capex: Fraction
    power: Fraction
    colocation: Fraction
    hours: int

    @property
    def total(self) -> Fraction:
        return self.capex + self.power + self.colocation


def month_parts(point: DerivedPoint, month_start_s: int) -> MonthParts:
    """The parts of one GPU's cost in the month starting at ``month_start_s`` (a month on or after the
    point's start): capex only while the purchase depreciates."""
    index, m0, m1 = month_of(month_start_s)
    if m0 != month_start_s or month_start_s < point.effective_from_s:
        raise ValueError("month_start_s must start a month on or after the price's start")
    depreciating = index - month_of(point.effective_from_s)[0] < point.depreciation_months
    hours = (m1 - m0) // SECONDS_PER_HOUR
    return MonthParts(
        capex=point.capex_usd_micros_per_gpu_month if depreciating else Fraction(0),
        power=point.power_usd_micros_per_gpu_hour * hours,
        colocation=point.colocation_usd_micros_per_gpu_month,
        hours=hours,
    )


def measured_power_adjustment_usd_micros(
    schedule: Sequence[PricingPoint],
    gpu_count: int,
    start_s: int,
    step_s: int,
    gpus_measured: int,
    milliwatts: int,
) -> int:
    """What measured energy changes in ``gpu_count`` GPUs' cost over ``[start_s, start_s + step_s)``:
    the power part of the ``gpus_measured`` GPUs dcgm reported (``milliwatts``, their summed mean board
    power) at their measured energy instead of their nameplate wattage; the others keep the nameplate.

    Zero unless the price in effect is derived with ``measured_power``. More GPUs reported than the
    inventory holds count as the inventory, at their mean. The difference is exact until this one
    rounding, half-even to the micro-dollar per interval and GPU type (docs/pricing.md): the telescoping
    nameplate figure stays as it is, so a schedule without measurements bills exactly as before.
    """
    index = bisect_right([p.effective_from_s for p in schedule], start_s) - 1
    point = schedule[index] if index >= 0 else None
    if not isinstance(point, DerivedPoint) or not point.measured_power or gpus_measured <= 0:
        return 0
    measured_mw = Fraction(milliwatts)
    if gpus_measured > gpu_count:
        measured_mw, gpus_measured = measured_mw * gpu_count / gpus_measured, gpu_count
    nameplate_mw = gpus_measured * point.watts_per_gpu * 1000
    # mW x s -> kWh: / 1000 (W) / 3600 (h) / 1000 (kW)
    kwh = (measured_mw - nameplate_mw) * step_s / (1000 * SECONDS_PER_HOUR * WATTS_PER_KILOWATT)
    return round(kwh * point.pue * point.usd_micros_per_kwh)
