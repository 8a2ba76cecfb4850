"""What GPUs cost per interval, in integer micro-USD, with effective-dated prices.

The cost of N GPUs over ``[a, b)`` is ``F(b) - F(a)`` where ``F(t) = floor(accrued(t) / 3600)`` and
``accrued(t)`` is the exact integer sum of price x N x seconds since the epoch. Because consecutive
intervals telescope, the integer costs of any run of intervals sum exactly to the floored cost of the whole
span: a month's intervals add up to the month's bill, although no single minute costs a whole micro-dollar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price per GPU-hour that applies from ``effective_from_s`` (unix seconds) until the next point."""

    effective_from_s: int
    usd_micros_per_gpu_hour: int


def _accrued(schedule: Sequence[PricePoint], gpu_count: int, t_s: int) -> int:
    """Exact micro-USD x 3600 accrued by ``gpu_count`` GPUs from the first price point until ``t_s``."""
    total = 0
    for i, point in enumerate(schedule):
        if point.effective_from_s >= t_s:
            break
        seg_end = schedule[i + 1].effective_from_s if i + 1 < len(schedule) else t_s
        total += point.usd_micros_per_gpu_hour * gpu_count * (min(seg_end, t_s) - point.effective_from_s)
    return total


def span_cost_usd_micros(schedule: Sequence[PricePoint], gpu_count: int, start_s: int, end_s: int) -> int:
    """Cost of ``gpu_count`` GPUs over ``[start_s, end_s)``; ``schedule`` sorted by effective date."""
    if end_s < start_s:
        raise ValueError("end before start")
    if not schedule or start_s < schedule[0].effective_from_s:
        raise ValueError("no GPU price is in effect at the start of the span")
    hi = _accrued(schedule, gpu_count, end_s) // SECONDS_PER_HOUR
    lo = _accrued(schedule, gpu_count, start_s) // SECONDS_PER_HOUR
    return hi - lo


def monthly_share_usd_micros(
    monthly_usd_micros: int, month_start_s: int, month_end_s: int, start_s: int, end_s: int
) -> int:
    """An interval's part of a fixed monthly amount, by time, with telescoping floors: the intervals of a
    month sum exactly to the monthly amount, whatever the month's length."""
    if not month_start_s <= start_s <= end_s <= month_end_s:
        raise ValueError("the interval must lie inside the month")
    span = month_end_s - month_start_s
    hi = monthly_usd_micros * (end_s - month_start_s) // span
    lo = monthly_usd_micros * (start_s - month_start_s) // span
    return hi - lo
