"""Budgets: month-to-date spend, its projection to month end, and which thresholds it has crossed.

Pure integer arithmetic over micro-USD and seconds; no floats decide anything (a ratio is computed only
for display and metrics).

The projection rule: the period's own usage so far is assumed to go on at the rate it has gone on over
the attributed part of the month, and corrections billed in the period (for earlier, closed months) are
one-off, so they are added as they are::

    projected = usage_so_far * seconds_in_month // attributed_seconds + corrections_so_far

``//`` rounds down to the micro-dollar. Nothing is projected before the first attributed interval.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class AlertKind(StrEnum):
    ACTUAL = "actual"
    """Spend so far has reached the threshold."""
    PROJECTED = "projected"
    """The projection to month end has reached the threshold."""


def project_month_end(
    usage_usd_micros: int, corrections_usd_micros: int, attributed_seconds: int, period_seconds: int
) -> int | None:
    """The month's projected cost (module docstring); None when nothing of the month is attributed yet.

    ``attributed_seconds`` is capped at ``period_seconds`` (a month can be no more than attributed)."""
    if attributed_seconds <= 0 or period_seconds <= 0:
        return None
    attributed_seconds = min(attributed_seconds, period_seconds)
    return usage_usd_micros * period_seconds // attributed_seconds + corrections_usd_micros


def thresholds_reached(amount_usd_micros: int, budget_usd_micros: int, thresholds: list[int]) -> list[int]:
    """The thresholds (percent of the budget) that ``amount`` has reached: amount * 100 >= t * budget."""
    return [t for t in thresholds if amount_usd_micros * 100 >= t * budget_usd_micros]


@dataclass(frozen=True, slots=True)
class Crossing:
    """One threshold reached, by one kind, in one period, of one budget: the unit an alert fires for."""

    budget: str
    period: str
    threshold_percent: int
    kind: AlertKind

    @property
    def delivery_id(self) -> str:
        """The same crossing always has the same id, so a receiver can drop a repeated delivery."""
        text = "\x1f".join((self.budget, self.period, str(self.threshold_percent), self.kind.value))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def crossings(
    budget: str,
    period: str,
    budget_usd_micros: int,
    thresholds: list[int],
    spent_usd_micros: int,
    projected_usd_micros: int | None,
) -> list[Crossing]:
    """Every (threshold, kind) that spend or its projection has reached, actual ones first."""
    out = [
        Crossing(budget, period, t, AlertKind.ACTUAL)
        for t in thresholds_reached(spent_usd_micros, budget_usd_micros, thresholds)
    ]
    if projected_usd_micros is not None:
        out += [
            Crossing(budget, period, t, AlertKind.PROJECTED)
            for t in thresholds_reached(projected_usd_micros, budget_usd_micros, thresholds)
        ]
    return out


def ratio(amount_usd_micros: int | None, budget_usd_micros: int) -> float | None:
    """For display and metrics only: amount / budget."""
    return None if amount_usd_micros is None else amount_usd_micros / budget_usd_micros
