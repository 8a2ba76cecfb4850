"""Writing stored lines straight into ``attributed_costs`` as the attribution job would: with their daily
rollups refreshed in the same transaction, since every window view reads whole days from the rollups
(attribution/store/daysums.py) and a test that skipped them would read days that do not exist."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from attribution.store.rollups import refresh_rollups
from attribution.store.tables import AttributedCost
from attribution.store.writes import insert_all

#: refresh_rollups takes a half-open window: the last line's start, plus any amount, reaches its day
_SECOND = timedelta(seconds=1)


def insert_lines(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (``attributed_costs`` values) and recompute the rollups of every day they touch."""
    insert_all(session, AttributedCost, list(rows))
    if rows:
        starts = [r["interval_start"] for r in rows]
        refresh_rollups(session, min(starts), max(starts) + _SECOND)


def add_lines(session: Session, lines: Sequence[AttributedCost]) -> None:
    """Add ORM ``lines`` and recompute the rollups of every day they touch."""
    session.add_all(lines)
    session.flush()
    if lines:
        starts = [line.interval_start for line in lines]
        refresh_rollups(session, min(starts), max(starts) + _SECOND)
