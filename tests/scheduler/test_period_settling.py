"""The attribution loop settles a month as one run over it would: an hour nobody used shares its idle by
the period's weights, which hold only the hours before it when the loop attributes it; the loop marks it
(``period_fallback``) and attributes it once more when the period has been attributed to its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.errors import PeriodIncompleteError
from attribution.ledger.attribute import run_attribution
from attribution.ledger.watermark import followed_plans
from attribution.scheduler.attribute_loop import attribute_once
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
from attribution.store.tables import AttributionRun
from tests.builders import small_cluster_settings
from tests.ledger.test_periods import attribute_november, close, load_november
from tests.ledger.test_span import empty_outputs, ledger, load

START = datetime(2026, 11, 30, 21, tzinfo=UTC)  # four hours: three of November, one of December
HOUR = timedelta(hours=1)
END = START + 4 * HOUR
UNUSED = START + HOUR  # 22:00-23:00: GPUs paid for, no request at all
SETTINGS = small_cluster_settings(scheduler={"attribution_max_window_seconds": 3600})


def collected_until(factory: sessionmaker[Session], until: datetime) -> None:
    """Every collector's watermark at ``until`` (attribution's at ``START`` if it has none yet)."""
    with unit_of_work(factory) as session:
        ensure_watermark(session, ATTRIBUTION, ALL_SOURCES, START, START)
        for plan in followed_plans(SETTINGS):
            ensure_watermark(session, *plan.key, until, until)
            advance_watermark(session, *plan.key, until, until)


def unused_lines(found: dict[str, list[tuple[object, ...]]]) -> list[tuple[object, ...]]:
    """The lines of the unused hour (their grain: an hour), by tenant: all idle."""
    lines = [r for r in found["attributed_costs"] if r[0] == UNUSED]
    assert lines
    return lines


def marks(factory: sessionmaker[Session]) -> list[tuple[datetime, datetime, str]]:
    with factory() as session:
        rows = session.execute(select(DirtyWindow.window_start, DirtyWindow.window_end, DirtyWindow.reason))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def runs(factory: sessionmaker[Session]) -> list[datetime]:
    with factory() as session:
        return list(session.scalars(select(AttributionRun.window_start).order_by(AttributionRun.id)))


def test_an_hour_settled_by_a_partial_period_is_attributed_again_when_the_period_ends(
    pg_factory: sessionmaker[Session],
) -> None:
    load(pg_factory, unused=range(60, 120), start=START)
    run_attribution(SETTINGS, pg_factory, START, END, now=END)
    one_run = ledger(pg_factory)
    empty_outputs(pg_factory)
    plans = followed_plans(SETTINGS)

    # collected to 23:00 only: the unused hour is attributed on the hour before it alone, and marked
    collected_until(pg_factory, START + 2 * HOUR)
    attribute_once(SETTINGS, pg_factory, plans, now=END)
    assert marks(pg_factory) == [(UNUSED, UNUSED + HOUR, PERIOD_FALLBACK)]
    assert unused_lines(ledger(pg_factory)) != unused_lines(one_run)  # provisional meanwhile

    # collected to the end: November is attributed to its end, so the unused hour runs once more
    collected_until(pg_factory, END)
    outcome = attribute_once(SETTINGS, pg_factory, plans, now=END + timedelta(minutes=1))
    assert outcome.status == "ok" and outcome.watermark == END
    assert ledger(pg_factory) == one_run
    assert marks(pg_factory) == []
    assert runs(pg_factory) == [START, UNUSED, START + 2 * HOUR, UNUSED, START + 3 * HOUR]


def test_a_mark_waits_while_its_period_is_not_attributed_to_its_end(
    pg_factory: sessionmaker[Session],
) -> None:
    load(pg_factory, unused=range(60, 120), start=START)
    plans = followed_plans(SETTINGS)
    collected_until(pg_factory, START + 2 * HOUR)
    attribute_once(SETTINGS, pg_factory, plans, now=END)
    attribute_once(SETTINGS, pg_factory, plans, now=END)  # nothing new collected: nothing runs again
    assert runs(pg_factory) == [START, UNUSED]
    assert marks(pg_factory) == [(UNUSED, UNUSED + HOUR, PERIOD_FALLBACK)]


def test_a_period_with_a_provisional_window_does_not_close(pg_tx: sessionmaker[Session]) -> None:
    """Its statement would freeze idle shared on part of the month: the close says to wait for the
    attribution job's next run, and closes once the mark is gone."""
    load_november(pg_tx)
    attribute_november(pg_tx)
    with unit_of_work(pg_tx) as session:  # what the loop leaves on an hour it settled on the month so far
        mark_dirty(session, START, START + HOUR, PERIOD_FALLBACK, START)
    with pytest.raises(PeriodIncompleteError, match=r"1 window\(s\) whose idle was shared on the month"):
        close(pg_tx)
    with unit_of_work(pg_tx) as session:
        clear_dirty(session, [m.id for m in dirty_windows(session)])
    assert close(pg_tx)[1]
