"""A long span attributed window by window, each window's reads made while the window before is written.

A run of the attribution job alternates between waiting on the database (its reads: the usage, the GPU
counts, the KV samples) and computing (the engine) and writing (the lines' COPY, the rollups). Over a
backfill of many windows the reads of window k+1 need nothing that window k writes: they read
telemetry and collection state, which no run writes. So :func:`attribute_span` starts them, on
connections of their own, as soon as window k's engine is done (its columns freed), and window k's
writes and commit overlap them: on two cores the database reads while Python writes.

What each window settles is exactly what :func:`~attribution.ledger.attribute.run_attribution` alone
would: the reads ahead are of the same window, with its end computed from the same watermarks; where
the end a run computes differs from the one read ahead (a collector moved meanwhile), the run reads
again itself. Each window is its own transaction, in order, so memory is bounded by a window's (and the
next one's reads), never by the span. Reads ahead need a second connection: on SQLite, or with a
factory bound to one connection, each window is read by its own run
(:func:`attribution.store.beside.has_own_connections`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings
from attribution.ledger.attribute import (
    AttributionSummary,
    run_attribution,
    settled_until,
    settlement_window,
)
from attribution.ledger.window_reads import WindowReads, read_window
from attribution.store.beside import has_own_connections
from attribution.store.session import unit_of_work


def windows_of(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive windows of ``step`` (the last one shorter if need be)."""
    if step <= timedelta(0):
        raise ValueError(f"a span's windows must be longer than 0 s, not {step}")
    out, at = [], start
    while at < end:
        out.append((at, min(at + step, end)))
        at += step
    return out


def attribute_span(
    settings: Settings,
    factory: sessionmaker[Session],
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    now: datetime | None = None,
    after_each: Callable[[AttributionSummary], None] | None = None,
) -> list[AttributionSummary]:
    """:func:`run_attribution` over each window of ``step`` in ``[start, end)``, in order, each
    window's reads made while the one before is written; ``after_each`` is called with each window's
    summary once it is committed (a bench's progress, a CLI's report)."""
    ahead = ReadAhead(settings, factory, now) if has_own_connections(factory) else None
    windows = windows_of(start, end, step)
    summaries = []
    try:
        for i, (w_start, w_end) in enumerate(windows):
            if ahead is None:
                summary = run_attribution(settings, factory, w_start, w_end, now=now)
            else:
                summary = ahead.run(w_start, w_end, windows[i + 1] if i + 1 < len(windows) else None)
            summaries.append(summary)
            if after_each is not None:
                after_each(summary)
    finally:
        if ahead is not None:
            ahead.close()
    return summaries


class ReadAhead:
    """Runs of consecutive windows, each given the reads begun during the run before it; one window's
    reads at a time, on a thread and connections of their own. Close it when done (it waits for a read
    still running). For a span (:func:`attribute_span`) and the scheduler's catch-up alike."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session], now: datetime | None) -> None:
        self.settings, self.factory, self.now = settings, factory, now
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
        self.pending: Future[WindowReads | None] | None = None

    def run(
        self, start: datetime, end: datetime, following: tuple[datetime, datetime] | None
    ) -> AttributionSummary:
        """:func:`run_attribution` of ``[start, end)`` with the reads begun last (used only if they are
        of its window), beginning the reads of ``following`` (the next window, if one is expected) once
        this run's engine is done."""
        read_next = (lambda: self.begin(*following)) if following is not None else None
        return run_attribution(
            self.settings, self.factory, start, end, now=self.now, reads=self.take(), read_next=read_next
        )

    def begin(self, start: datetime, end: datetime) -> None:
        self.pending = self.pool.submit(self._read, start, end)

    def take(self) -> WindowReads | None:
        """The reads begun last (None: none begun, nothing to attribute, or they failed: a run reads
        again itself, and a failure raises there, in its place, as it would have without reads ahead)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return None
        try:
            return pending.result()
        except Exception:  # the run reads the same window again and raises in its place
            return None

    def _read(self, start: datetime, end: datetime) -> WindowReads | None:
        """The window the run of ``[start, end)`` will settle, and its reads (as the run computes them)."""
        start, widened_end = settlement_window(self.settings, start, end)
        with unit_of_work(self.factory) as session:
            until = settled_until(session, self.settings, start, widened_end, self.now)
            if until == start:
                return None
            return read_window(self.settings, self.factory, session, start, until)

    def close(self) -> None:
        """Wait for reads still running (none outlives the span) and drop them."""
        self.take()
        self.pool.shutdown(wait=True)
