"""What one collector read from one source for one window, before it is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import DeclarativeBase

from attribution.collectors.prom import utc_from_seconds
from attribution.store.column_copy import ColumnValues, column_dicts, take
from attribution.store.expressions import table_of


@dataclass(frozen=True, slots=True)
class RowColumns:
    """Rows as columns (name -> values, :mod:`attribution.store.column_copy`'s forms) in key order, their
    ``interval_start`` as unix seconds: what the gateway builds, written by one numpy-built COPY without
    a dict per row."""

    columns: dict[str, ColumnValues]
    rows: int

    def interval_starts(self) -> Any:
        """The rows' interval starts (unix seconds, an int64 array)."""
        return self.columns["interval_start"]

    def per_interval(self) -> dict[datetime, int]:
        """Rows per interval start."""
        stamps, counts = np.unique(self.interval_starts(), return_counts=True)
        return {utc_from_seconds(t): n for t, n in zip(stamps.tolist(), counts.tolist(), strict=True)}

    def before(self, end: datetime) -> RowColumns:
        """Only the rows before ``end``."""
        keep = self.interval_starts() < int(end.timestamp())
        kept = {name: take(values, keep) for name, values in self.columns.items()}
        return RowColumns(kept, int(np.count_nonzero(keep)))


@dataclass(slots=True)
class Batch:
    """Rows for ``table``; per interval, how many series had a value (coverage), the intervals in
    which a signal was estimated rather than measured (e.g. KV token-seconds from tokens x latency), and
    those with a series the collector could not place (e.g. a MIG instance of unknown profile).

    The rows are dicts (``rows``), or columns (``columns``, the gateway's common case), which ``rows``
    turns into dicts when asked (tests, the SQLite path): the writer takes either."""

    table: type[DeclarativeBase]
    dict_rows: list[dict[str, Any]]
    series: dict[datetime, int] = field(default_factory=dict)
    estimated: set[datetime] = field(default_factory=set)
    unplaced: set[datetime] = field(default_factory=set)
    missing: set[datetime] = field(default_factory=set)
    """Intervals the source was silent in (a scrape gap): missing, whatever rows were spread into them."""
    open_gap: datetime | None = None
    """Start of a silent run reaching the window's end: its increase is not known yet (the scheduler
    waits for the first sample after it, so the gap is spread whole, see ``watermarks.run_once``)."""
    columns: RowColumns | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (made from ``columns`` once, if the batch holds columns)."""
        if self.columns is not None:
            self.dict_rows = column_dicts(table_of(self.table), self.columns.columns, self.columns.rows)
            self.columns = None
        return self.dict_rows

    @rows.setter
    def rows(self, rows: list[dict[str, Any]]) -> None:
        self.dict_rows, self.columns = rows, None

    def cut(self, end: datetime) -> None:
        """Keep only what lies before ``end``."""
        if self.columns is not None:
            self.columns = self.columns.before(end)
            return
        self.dict_rows = [r for r in self.dict_rows if r["interval_start"] < end]

    def saw(self, interval_start: datetime) -> None:
        self.series[interval_start] = self.series.get(interval_start, 0) + 1
