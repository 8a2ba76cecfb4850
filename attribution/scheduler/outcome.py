"""What one run of a loop reports: its outcome, the errors it survives, and its one log line.

Both loops (:mod:`~attribution.scheduler.collect_loop`, :mod:`~attribution.scheduler.attribute_loop`)
return a :class:`RunOutcome`; the app logs it (:func:`log_outcome`) and counts it
(:mod:`~attribution.scheduler.selfmetrics`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from attribution.config import DEFAULT_CLUSTER
from attribution.errors import (
    ConflictError,
    DatabaseUnavailableError,
    SourceQueryError,
    SourceUnavailableError,
)

#: The package's name, not this module's: operators and docs/operations.md filter the run lines on it.
log = logging.getLogger("attribution.scheduler")

#: What a run can fail on and survive: the watermark stays and the next run retries. A conflict is another
#: writer of the same window (``attribution attribute`` by hand beside the scheduler).
RUN_ERRORS = (SourceUnavailableError, SourceQueryError, DatabaseUnavailableError, ConflictError)


@dataclass(slots=True)
class RunOutcome:
    """``status``: ``ok`` (caught up), ``partial`` (chunks left for the next run), ``busy`` (another
    replica holds the row), ``idle`` (nothing new yet), ``waiting`` (the source has been silent since the
    watermark: a gap whose end is awaited) or ``failed``."""

    collector: str
    source: str
    status: str = "idle"
    chunks: int = 0
    rows: int = 0
    watermark: datetime | None = None
    error: str | None = None
    error_kind: str | None = None
    duration_seconds: float = 0.0
    window_start: datetime | None = None
    """Where the run began (the watermark it found); ``[window_start, watermark)`` is what it committed."""
    cluster: str = DEFAULT_CLUSTER
    """The cluster whose (collector, source) or attribution ran."""


def log_outcome(outcome: RunOutcome, now: datetime, every_seconds: int) -> None:
    """One line per run, its fields also as structured ``extra`` (top-level keys in JSON logs):
    ``collector``, ``source``, ``status``, ``window_start``/``window_end`` (what it committed), ``rows``,
    ``chunks``, ``duration_seconds``, ``lag_seconds`` (now - watermark); on failure ``error_kind``,
    ``error`` and ``next_retry_at`` (the next scheduled run; the watermark stays)."""
    lag = None if outcome.watermark is None else round((now - outcome.watermark).total_seconds(), 1)
    fields = {
        "event": "run",
        "cluster": outcome.cluster,
        "collector": outcome.collector,
        "source": outcome.source,
        "status": outcome.status,
        "window_start": outcome.window_start,
        "window_end": outcome.watermark,
        "watermark": outcome.watermark,
        "rows": outcome.rows,
        "chunks": outcome.chunks,
        "duration_seconds": round(outcome.duration_seconds, 3),
        "lag_seconds": lag,
    }
    name = f"{outcome.collector}@{outcome.source}"
    if outcome.status == "failed":
        retry = now + timedelta(seconds=every_seconds)
        fields |= {"error_kind": outcome.error_kind, "error": outcome.error, "next_retry_at": retry}
        log.warning(
            "run %s failed (%s): %s; watermark stays at %s, lag %ss; next retry at %s",
            name, outcome.error_kind, outcome.error, _iso(outcome.watermark), lag, _iso(retry),
            extra=fields,
        )  # fmt: skip
        return
    log.info(
        "run %s %s: window [%s, %s) rows=%d chunks=%d duration=%.2fs lag=%ss",
        name, outcome.status, _iso(outcome.window_start), _iso(outcome.watermark), outcome.rows,
        outcome.chunks, outcome.duration_seconds, lag,
        extra=fields,
    )  # fmt: skip


def _iso(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
