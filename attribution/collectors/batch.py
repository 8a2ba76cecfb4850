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
    missing: set[datetime] = field(default_factory=set)
    """Intervals the source was silent in (a scrape gap): missing, whatever rows were spread into them."""
    open_gap: datetime | None = None
    """Start of a silent run reaching the window's end: its increase is not known yet (the scheduler
    waits for the first sample after it, so the gap is spread whole, see ``watermarks.run_once``)."""

    def cut(self, end: datetime) -> None:
        """Keep only what lies before ``end``."""
        self.rows = [r for r in self.rows if r["interval_start"] < end]

    def saw(self, interval_start: datetime) -> None:
        self.series[interval_start] = self.series.get(interval_start, 0) + 1
