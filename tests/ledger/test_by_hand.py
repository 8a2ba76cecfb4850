"""``attribution attribute`` over a span longer than the scheduler's window (a month to close): it runs in
windows, in a window's memory, and stores exactly what one run over the span stores, including the idle of
an hour nobody used, which falls back to the period's weights (ledger/span.py ``attribute_settled``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger import attribute as job
from attribution.ledger import span
from attribution.ledger.span import attribute_by_hand, attribute_span, summed
from tests.builders import T0, small_cluster_settings
from tests.ledger.test_span import END, HOURS, STEP, empty_outputs, ledger
from tests.ledger.test_span import load as load_hours

UNUSED_HOUR = range(60, 120)  # the second hour: GPUs paid for, no request at all
HOURLY = small_cluster_settings(scheduler={"attribution_max_window_seconds": 3600})


def load(factory: sessionmaker[Session]) -> None:
    """Nobody uses the pool in the second hour, so that hour's idle has no weights of its own and is
    shared by the period's."""
    load_hours(factory, unused=UNUSED_HOUR)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[datetime, datetime]]:
    """The window of every run the span makes (each through ``run_attribution``, none read ahead)."""
    seen: list[tuple[datetime, datetime]] = []
    real = span.run_attribution

    def counted(settings: Any, factory: Any, start: datetime, end: datetime, **kw: Any) -> Any:
        seen.append((start, end))
        return real(settings, factory, start, end, **kw)

    monkeypatch.setattr(span, "run_attribution", counted)
    monkeypatch.setattr(span, "has_own_connections", lambda _factory: False)
    return seen


def test_a_span_by_hand_stores_what_one_run_over_it_stores(pg_factory: sessionmaker[Session]) -> None:
    settings = HOURLY
    load(pg_factory)
    one_run = job.run_attribution(settings, pg_factory, T0, END)
    expected = ledger(pg_factory)
    assert one_run.read_period  # the unused hour's idle went to the period's weights

    # the windows alone: the unused hour saw only the hour before it (the later ones were not stored yet)
    empty_outputs(pg_factory)
    first_pass = attribute_span(settings, pg_factory, T0, END, STEP)
    assert [s.read_period for s in first_pass] == [False, True, False, False]
    assert ledger(pg_factory) != expected

    empty_outputs(pg_factory)
    by_hand = attribute_by_hand(settings, pg_factory, T0, END)
    assert ledger(pg_factory) == expected
    assert (by_hand.start, by_hand.end, by_hand.attributed_until) == (T0, END, END)
    assert (by_hand.lines, by_hand.total_usd_micros) == (one_run.lines, one_run.total_usd_micros)
    assert by_hand.total_usd_micros == by_hand.cluster_cost_usd_micros


def test_only_the_windows_that_read_the_period_run_again(
    pg_factory: sessionmaker[Session], runs: list[tuple[datetime, datetime]]
) -> None:
    """Every hour once, then the unused hour again; the last hour saw all the others, so never again."""
    load(pg_factory)
    attribute_by_hand(HOURLY, pg_factory, T0, END)
    assert runs == [(T0 + h * STEP, T0 + (h + 1) * STEP) for h in range(HOURS)] + [(T0 + STEP, T0 + 2 * STEP)]


def test_within_one_window_or_settled_per_period_it_is_one_run(
    pg_factory: sessionmaker[Session], runs: list[tuple[datetime, datetime]]
) -> None:
    load(pg_factory)
    daily = small_cluster_settings()  # the scheduler's window: a day, longer than the span
    assert attribute_by_hand(daily, pg_factory, T0, END).end == END
    per_period = small_cluster_settings(
        scheduler={"attribution_max_window_seconds": 3600}, policies={"settlement_window": "period"}
    )
    attribute_by_hand(per_period, pg_factory, T0, END)  # widened to its month, in one run
    assert runs == [(T0, END), (T0, END)]  # each one run_attribution of the span, not of its windows


def test_a_span_summary_counts_each_window_once_and_every_correction() -> None:
    a = job.AttributionSummary(T0, T0 + STEP, 3, 10, 10, 1, T0 + STEP, read_period=True)
    b = job.AttributionSummary(T0 + STEP, END, 2, 5, 5, 0, END)
    again = job.AttributionSummary(T0, T0 + STEP, 4, 10, 10, 2, T0 + STEP)
    total = summed([a, b, again])
    assert (total.start, total.end, total.attributed_until) == (T0, END, END)
    assert (total.lines, total.total_usd_micros, total.correction_lines, total.read_period) == (
        6,
        15,
        3,
        False,
    )
