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
from attribution.ledger.heap import Trimmer, return_free_memory
from attribution.ledger.window_reads import WindowReads, read_window
from attribution.ledger.window_size import cut_grain_seconds, windows_within
from attribution.store.beside import has_own_connections
from attribution.store.session import unit_of_work
from attribution.timeutil import windows_of


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
    return attribute_windows(settings, factory, windows_of(start, end, step), now=now, after_each=after_each)


def attribute_settled(
    settings: Settings,
    factory: sessionmaker[Session],
    windows: list[tuple[datetime, datetime]],
    *,
    now: datetime | None = None,
    after_each: Callable[[AttributionSummary], None] | None = None,
) -> list[AttributionSummary]:
    """Consecutive ``windows`` attributed as one run over them would, so memory is that of a window,
    not of the span: :func:`attribute_windows`, then once more each window but the last whose idle
    read its period's weights (:attr:`AttributionSummary.read_period`). Those read the stored lines of
    the windows after them as they were before this span (none, for a first attribution); by the second
    pass every window's non-idle weights (which idle does not move) are this span's, so each settles as
    in one run over the span. Returns the summaries of both passes, in order."""
    first = attribute_windows(settings, factory, windows, now=now, after_each=after_each)
    again = [(s.start, s.end) for s in first[:-1] if s.read_period and s.attributed_until is not None]
    return first + attribute_windows(settings, factory, again, now=now, after_each=after_each)


def attribute_by_hand(
    settings: Settings, factory: sessionmaker[Session], start: datetime, end: datetime
) -> AttributionSummary:
    """``attribution attribute``: ``[start, end)`` as one run would settle it. Longer than the scheduler's
    window (``scheduler.attribution_max_window_seconds``, a day by default) or its usage-row budget, and
    settled per hour or day, it runs in the scheduler's windows (:func:`~attribution.ledger.window_size.
    windows_within`, then :func:`attribute_settled`), so a month of a fleet needs a window's memory, not
    a month's; settled over the period, its idle needs the whole period in one run."""
    if cut_grain_seconds(settings) is None:  # settled over the period: its idle needs all of it at once
        return run_attribution(settings, factory, start, end)
    widened_start, widened_end = settlement_window(settings, start, end)
    with factory() as session:
        windows = windows_within(session, settings, widened_start, widened_end)
    if len(windows) <= 1:
        return run_attribution(settings, factory, start, end)
    return summed(attribute_settled(settings, factory, windows))


def summed(summaries: list[AttributionSummary]) -> AttributionSummary:
    """One summary of a span's runs: each window's last run (a window run twice counts once), with the
    correction lines of every run (each run's are written). Empty: nothing was attributed."""
    if not summaries:
        raise ValueError("a span of no windows has no summary")
    last = {(s.start, s.end): s for s in summaries}.values()
    until = [s.attributed_until for s in last if s.attributed_until is not None]
    return AttributionSummary(
        start=min(s.start for s in last),
        end=max(until) if until else max(s.end for s in last),  # where the lines stop, as one run's
        lines=sum(s.lines for s in last),
        total_usd_micros=sum(s.total_usd_micros for s in last),
        cluster_cost_usd_micros=sum(s.cluster_cost_usd_micros for s in last),
        correction_lines=sum(s.correction_lines for s in summaries),
        attributed_until=max(until) if until else None,
        read_period=any(s.read_period for s in last),
    )


def attribute_windows(
    settings: Settings,
    factory: sessionmaker[Session],
    windows: list[tuple[datetime, datetime]],
    *,
    now: datetime | None = None,
    after_each: Callable[[AttributionSummary], None] | None = None,
) -> list[AttributionSummary]:
    """:func:`run_attribution` of each window in turn, each one's reads made while the one before is
    written (on SQLite, or one connection, each window reads for itself)."""
    ahead = ReadAhead(settings, factory, now) if has_own_connections(factory) else None
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
        self.trimmer = Trimmer()  # the reads' and the engine's free heap, which neither thread reuses

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
            reads = read_window(self.settings, self.factory, session, start, until)
        return_free_memory()  # the reads' own free heap, while the engine (another thread) is at its peak
        return reads

    def close(self) -> None:
        """Wait for reads still running (none outlives the span) and drop them."""
        self.take()
        self.pool.shutdown(wait=True)
        self.trimmer.stop()
