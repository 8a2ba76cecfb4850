"""The collect loop: each run collects ``[watermark, now - safety lag)`` for one (cluster, collector,
source): the settings are the cluster's (:meth:`~attribution.config.Settings.for_cluster`), and each
cluster has its own watermark rows, so a cluster whose source is down holds only its own.

One transaction per chunk, in the manner of polar's ``meter/tasks.py``: lock the watermark row
(``SELECT ... FOR UPDATE SKIP LOCKED``), read the chunk from the source, upsert it with its coverage, move
the watermark to the chunk's end, commit. Data and watermark commit together, so:

* a second scheduler replica finds the row locked and skips (``busy``); when it next runs, the watermark
  has moved, so no window is ever collected twice;
* a source failure (after the client's retries) or a database failure rolls the chunk back whole: the
  watermark stays, the failure is recorded on the row, and the next run resumes from the same place;
* nothing between the watermark and the last commit is lost, and nothing before it is read again.

SQLite has no row locks: there the scheduler must run as a single process.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.batch import Batch
from attribution.collectors.profiles import Plan
from attribution.collectors.prom import PromClient
from attribution.collectors.run import fetch, write
from attribution.config import Settings
from attribution.errors import DatabaseUnavailableError
from attribution.scheduler.outcome import RUN_ERRORS, RunOutcome
from attribution.store.collection_state import (
    advance_watermark,
    ensure_watermark,
    lock_watermark,
    record_failure,
)
from attribution.store.session import unit_of_work
from attribution.timeutil import floor_to

log = logging.getLogger(__name__)


def initial_watermark(settings: Settings, now: datetime) -> datetime:
    step = settings.interval_seconds
    start = settings.collection.start_at
    if start is None:
        start = now - timedelta(seconds=settings.collection.initial_lookback_seconds)
    return floor_to(start, step)


def collect_target(settings: Settings, now: datetime) -> datetime:
    """The end of what may be collected at ``now``: whole intervals older than the safety lag."""
    return floor_to(
        now - timedelta(seconds=settings.collection.safety_lag_seconds), settings.interval_seconds
    )


def run_once(
    settings: Settings,
    factory: sessionmaker[Session],
    plan: Plan,
    client: PromClient,
    now: datetime | None = None,
    max_chunks: int | None = None,
) -> RunOutcome:
    """Collect chunk by chunk up to the target (or ``max_chunks``), committing and advancing after each."""
    began = time.monotonic()
    now = now or datetime.now(UTC)
    target = collect_target(settings, now)
    span = timedelta(seconds=settings.interval_seconds * settings.collection.chunk_intervals)
    outcome = RunOutcome(*plan.key)
    try:
        with unit_of_work(factory) as session:
            initial = initial_watermark(settings, now)
            ensure_watermark(session, *plan.key, initial, now, settings.cluster)
        while max_chunks is None or outcome.chunks < max_chunks:
            with unit_of_work(factory) as session:
                row = lock_watermark(session, *plan.key, settings.cluster)
                if row is None:
                    outcome.status = "busy"
                    break
                start = floor_to(row.watermark, settings.interval_seconds)  # interval_seconds may change
                outcome.watermark = start
                if outcome.window_start is None:
                    outcome.window_start = start
                if start >= target:
                    outcome.status = "ok" if outcome.chunks else "idle"
                    break
                end = min(start + span, target)
                batch = fetch(client, settings, plan, start, end)
                end = _hold_back(settings, batch, start, end)
                if end == start:  # silent since the watermark: wait for the gap's end (bounded)
                    outcome.status = "waiting"
                    break
                outcome.rows += write(session, settings, plan, batch, (start, end), "scheduled")
                advance_watermark(session, *plan.key, end, datetime.now(UTC), settings.cluster)
            outcome.chunks += 1
            outcome.watermark = end
            outcome.status = "ok" if end >= target else "partial"
            if end >= target:
                break
    except RUN_ERRORS as exc:
        outcome.status, outcome.error, outcome.error_kind = "failed", exc.detail, exc.code
        log.debug("%s/%s: %s; the watermark stays at %s", *plan.key, exc.detail, outcome.watermark)
        _record_failure(factory, plan, exc.detail, settings.cluster)
    outcome.duration_seconds = time.monotonic() - began
    return outcome


def _hold_back(settings: Settings, batch: Batch, start: datetime, end: datetime) -> datetime:
    """Where to stop the chunk: before a gap still open at its end (the source silent up to ``end``), so
    the next run, seeing the first sample after it, spreads the gap's increase over all of it. A gap older
    than ``counter_baseline_lookback_seconds`` by the wall clock (samples arrive in real time, whatever
    clock the run was given) is not waited for: the source is down or its data ends there, and its
    intervals are committed as missing."""
    gap = batch.open_gap
    oldest = datetime.now(UTC) - timedelta(seconds=settings.collection.counter_baseline_lookback_seconds)
    if gap is None or gap < oldest:
        return end
    cut = max(start, gap)
    batch.cut(cut)
    return cut


def _record_failure(factory: sessionmaker[Session], plan: Plan, error: str, cluster: str) -> None:
    """Best effort: note the failure on the row, unless another replica holds it or the database is down."""
    try:
        with unit_of_work(factory) as session:
            if lock_watermark(session, *plan.key, cluster) is not None:
                record_failure(session, *plan.key, error, datetime.now(UTC), cluster)
    except DatabaseUnavailableError as exc:
        log.warning("could not record the failure of %s/%s: %s", *plan.key, exc.detail)
