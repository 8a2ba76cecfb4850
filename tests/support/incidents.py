"""Incidents as the attribution job finds them (from its own reads, as columns) beside the reference: the
object detector over ``detection_inputs``, a scan of its own. Tests compare the two on real data."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from attribution.config import Settings
from attribution.ledger.incidents import CONTEXT_INTERVALS, WATCH_DAYS, find_incidents
from attribution.model.incidents import Incident, detect_incidents, split_at_grid
from attribution.store.columns import usage_columns
from attribution.store.gpu_columns import gpu_count_columns
from attribution.store.incidents import detection_inputs, pools_with_engines
from attribution.store.kv_sample_columns import kv_sample_columns


def job_and_reference(
    session: Session, settings: Settings, start: datetime, end: datetime
) -> tuple[list[Incident], list[Incident]]:
    """The incidents of ``[start, end)`` the job finds, and the reference's, cut on the same grid."""
    step = settings.interval_seconds
    reads = (
        gpu_count_columns(session, start, end),
        kv_sample_columns(session, start, end),
        usage_columns(session, start, end),
    )
    got = find_incidents(session, settings, start, end, reads)
    samples = detection_inputs(session, start - timedelta(seconds=step * CONTEXT_INTERVALS), end)
    watched = pools_with_engines(session, start - timedelta(days=WATCH_DAYS), end)
    expected = detect_incidents(samples, int(start.timestamp()), int(end.timestamp()), step, watched)
    return got, split_at_grid(expected, max(step, settings.line_grain_seconds))
