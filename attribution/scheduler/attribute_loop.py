"""The attribution loop: attribute the window every collector has finished.

Its watermark row (``attribution``, ``*``, :mod:`attribution.ledger.watermark`) says how far attribution
has gone; a run attributes ``[floor(watermark, align), min(collector watermarks))``: from the start of the
settlement window (an hour by default) that holds the watermark, since idle is shared within it, up to
where every collector has committed. A backfill marks the windows it rewrote as dirty (see
:func:`attribution.collectors.run.collect_window`); each run first re-attributes the dirty windows behind
the watermark, and only those, then goes forward. The row is held for the run
(:func:`~attribution.ledger.watermark.lock_attribution`, as ``attribution attribute`` holds it), so two
replicas never attribute at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.profiles import Plan
from attribution.config import Settings
from attribution.ledger.attribute import AttributionSummary, run_attribution
from attribution.ledger.close import period_of
from attribution.ledger.span import ReadAhead
from attribution.ledger.watermark import (
    AttributionBusyError,
    collected_until,
    lock_attribution,
)
from attribution.ledger.window_size import windows_within
from attribution.scheduler.collect_loop import initial_watermark
from attribution.scheduler.outcome import RUN_ERRORS, RunOutcome
from attribution.store.beside import has_own_connections
from attribution.store.collection_state import (
    ALL_SOURCES,
    ATTRIBUTION,
    PERIOD_FALLBACK,
    DirtyWindow,
    advance_watermark,
    clear_dirty,
    dirty_windows,
    ensure_watermark,
    mark_dirty,
)
from attribution.store.session import unit_of_work
from attribution.timeutil import ceil_to, floor_to, period_window

log = logging.getLogger(__name__)

#: The attribution job's signature (:func:`~attribution.ledger.attribute.run_attribution`); a test may
#: pass its own to watch the windows.
AttributeJob = Callable[[Settings, sessionmaker[Session], datetime, datetime], object]


def dirty_spans(
    windows: Sequence[tuple[datetime, datetime]], watermark: datetime, align: int, span: timedelta
) -> list[tuple[datetime, datetime]]:
    """The dirty windows behind ``watermark``, aligned out to ``align`` seconds, merged where they touch,
    and cut into pieces of at most ``span``. What lies past the watermark the forward run will cover."""
    step = timedelta(seconds=align)
    merged: list[list[datetime]] = []
    for raw_start, raw_end in sorted(windows):
        if min(raw_end, watermark) <= raw_start:
            continue
        start, end = floor_to(raw_start, align), ceil_to(min(raw_end, watermark), align)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out = []
    for start, end in merged:
        piece = start
        while piece < end:
            piece_end = min(piece + max(span, step), end)
            out.append((piece, piece_end))
            piece = piece_end
    return out


def due(mark: DirtyWindow, watermark: datetime) -> bool:
    """Whether a dirty mark is re-attributed now: any mark, except a period-fallback mark whose period
    has not been attributed to its end yet (re-run before then, it would read the same partial period)."""
    return mark.reason != PERIOD_FALLBACK or watermark >= period_end(mark.window_end)


def period_end(end: datetime) -> datetime:
    """The end of the period that holds the last instant before ``end``."""
    return period_window(period_of(end - timedelta(microseconds=1)))[1]


def mark_if_provisional(session: Session, settings: Settings, summary: object, watermark: datetime) -> None:
    """A run whose idle read its period's weights before the period was attributed to its end settled
    on a partial period: mark its window to run once more when the period is complete, so the month
    the loop attributes hour by hour settles as one run over it would (docs/memory-time-model.md)."""
    if not isinstance(summary, AttributionSummary) or not summary.read_period:
        return  # a test's own job, or nothing read from the period
    if summary.attributed_until is None or watermark >= period_end(summary.attributed_until):
        return
    mark_dirty(
        session, summary.start, summary.attributed_until, PERIOD_FALLBACK, datetime.now(UTC), settings.cluster
    )


def reattribute_dirty(
    settings: Settings,
    factory: sessionmaker[Session],
    session: Session,
    watermark: datetime,
    span: timedelta,
    attribute: AttributeJob = run_attribution,
) -> int:
    """Re-attribute the dirty windows behind ``watermark`` and clear them, under the caller's lock.

    The rows are deleted in the locked transaction after the job has committed its lines: a crash in
    between leaves them, and the next run recomputes the same lines again (the job is idempotent).
    """
    dirty = [d for d in dirty_windows(session, settings.cluster) if due(d, watermark)]
    if not dirty:
        return 0
    spans = dirty_spans(
        [(d.window_start, d.window_end) for d in dirty],
        watermark,
        settings.scheduler.attribution_align_seconds,
        span,
    )
    for start, end in spans:
        log.debug("attribution: re-attributing dirty window [%s, %s)", start, end)
        mark_if_provisional(session, settings, attribute(settings, factory, start, end), watermark)
    clear_dirty(session, [d.id for d in dirty])
    return len(spans)


def attribute_once(
    settings: Settings,
    factory: sessionmaker[Session],
    plans: Sequence[Plan],
    now: datetime | None = None,
    *,
    attribute: AttributeJob = run_attribution,
) -> RunOutcome:
    """Attribute, window by window (at most ``attribution_max_window_seconds`` each), up to the target."""
    began = time.monotonic()
    now = now or datetime.now(UTC)
    align = settings.scheduler.attribution_align_seconds
    span = timedelta(seconds=max(settings.scheduler.attribution_max_window_seconds, align))
    cluster = settings.cluster
    outcome = RunOutcome(ATTRIBUTION, ALL_SOURCES, cluster=cluster)
    # the job itself (a test may pass its own) on a database with connections to spare: reads ahead
    ahead = (
        ReadAhead(settings, factory, None)
        if attribute is run_attribution and has_own_connections(factory)
        else None
    )
    try:
        with unit_of_work(factory) as session:
            initial = initial_watermark(settings, now)
            ensure_watermark(session, ATTRIBUTION, ALL_SOURCES, initial, now, cluster)
        while True:
            with lock_attribution(factory, cluster) as (session, row):
                if row is None:  # ensured above: gone only if deleted meanwhile
                    outcome.status = "busy"
                    break
                outcome.watermark = row.watermark
                if outcome.window_start is None:
                    outcome.window_start = row.watermark
                outcome.chunks += reattribute_dirty(
                    settings, factory, session, row.watermark, span, attribute
                )
                target = collected_until(session, plans, cluster)
                if target is None or target <= row.watermark:
                    outcome.status = "ok" if outcome.chunks else "idle"
                    break
                start = floor_to(row.watermark, align)
                # this window and the next, within the scheduler's length and usage-row budget
                windows = windows_within(session, settings, start, min(start + 2 * span, target))
                end = windows[0][1]
                if ahead is None:
                    summary = attribute(settings, factory, start, end)
                else:  # a catch-up: the next window's reads overlap this one's writes
                    summary = ahead.run(start, end, windows[1] if len(windows) > 1 else None)
                mark_if_provisional(session, settings, summary, end)
                advance_watermark(session, ATTRIBUTION, ALL_SOURCES, end, datetime.now(UTC), cluster)
            outcome.chunks += 1
            outcome.watermark = end
            outcome.status = "ok"
    except AttributionBusyError:  # another replica, or ``attribution attribute``, holds the row
        outcome.status = "busy"
    except RUN_ERRORS as exc:
        outcome.status, outcome.error, outcome.error_kind = "failed", exc.detail, exc.code
        log.debug("attribution: %s; its watermark stays at %s", exc.detail, outcome.watermark)
    finally:
        if ahead is not None:
            ahead.close()
    outcome.duration_seconds = time.monotonic() - began
    return outcome
