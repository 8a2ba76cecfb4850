"""What one collector read from one source for one window, before it is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase


@dataclass(slots=True)
class Batch:
    """Rows for ``table``; per interval, how many series had a value (coverage), the intervals in
    which a signal was estimated rather than measured (e.g. KV token-seconds from tokens x latency), and
    those with a series the collector could not place (e.g. a MIG instance of unknown profile)."""

    table: type[DeclarativeBase]
    rows: list[dict[str, Any]]
    series: dict[datetime, int] = field(default_factory=dict)
    estimated: set[datetime] = field(default_factory=set)
    unplaced: set[datetime] = field(default_factory=set)

    def saw(self, interval_start: datetime) -> None:
        self.series[interval_start] = self.series.get(interval_start, 0) + 1
