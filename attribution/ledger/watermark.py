"""The attribution job's watermark row: its key, its lock, and the collectors it waits for.

One row (``attribution``, ``*``) of ``collector_watermarks`` says how far the scheduler has attributed.
Whoever attributes holds it for the run with :func:`lock_attribution`: the scheduler's attribution loop
(:mod:`attribution.scheduler.attribute_loop`) and ``attribution attribute`` by hand alike, so two runs
never write the same window at once. Attribution never passes the earliest watermark of the collectors
the scheduler follows (:func:`followed_plans`, :func:`collected_until`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.profiles import Plan, plans
from attribution.config import Settings
from attribution.errors import ConflictError
from attribution.store.collection_state import (
    ALL_SOURCES,
    ATTRIBUTION,
    CollectorWatermark,
    all_watermarks,
    lock_watermark,
)
from attribution.store.session import unit_of_work
from attribution.store.tables import DEFAULT_CLUSTER


class AttributionBusyError(ConflictError):
    """Another run holds the attribution job's row: a scheduler replica, or ``attribution attribute``."""


class HeldAttribution(NamedTuple):
    session: Session
    """The unit of work that holds the row; it commits (and releases the row) when the block ends."""
    row: CollectorWatermark | None
    """The locked row; None where the scheduler has never run (no row: nothing to hold)."""


@contextmanager
def lock_attribution(
    factory: sessionmaker[Session], cluster: str = DEFAULT_CLUSTER
) -> Iterator[HeldAttribution]:
    """Hold ``cluster``'s attribution watermark row for the block, in one unit of work. Each cluster
    has its own row: one cluster's run (or its stuck collection) never holds another's attribution.

    Postgres: ``SELECT ... FOR UPDATE SKIP LOCKED``, so a second run fails at once with
    :class:`AttributionBusyError` instead of queueing behind the first. A database the scheduler has
    never run on has no row to hold, and the block runs with ``row`` None.
    """
    with unit_of_work(factory) as session:
        row = lock_watermark(session, ATTRIBUTION, ALL_SOURCES, cluster)
        # asked only when the lock failed: a row loaded before locking would keep its unlocked values
        key = (ATTRIBUTION, ALL_SOURCES, cluster)
        if row is None and session.get(CollectorWatermark, key) is not None:
            raise AttributionBusyError(
                "the scheduler's attribution job is running; retry when it has finished"
            )
        yield HeldAttribution(session, row)


def followed_plans(settings: Settings) -> list[Plan]:
    """The (collector, source) plans the scheduler runs: attribution waits for every one of them."""
    return [p for p in plans(settings) if settings.scheduler.job(p.collector).enabled]


def collected_until(
    session: Session, plans: Sequence[Plan], cluster: str = DEFAULT_CLUSTER
) -> datetime | None:
    """The earliest watermark of ``plans`` (of ``cluster``): every one of them has committed up to here.
    None while any of them has not run yet."""
    marks = {(w.collector, w.source): w.watermark for w in all_watermarks(session, cluster)}
    found = [marks.get(plan.key) for plan in plans]
    if not found or any(m is None for m in found):
        return None
    return min(m for m in found if m is not None)
