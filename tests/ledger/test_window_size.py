"""The attribution job's windows: at most the scheduler's length and its usage-row budget, cut at whole
settlement windows and never shorter than one (ledger/window_size.py), in the loop and by hand alike."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from attribution.ledger.span import attribute_by_hand
from attribution.ledger.watermark import followed_plans
from attribution.ledger.window_size import windows_within
from attribution.scheduler.attribute_loop import attribute_once
from attribution.store.tables import AttributionRun, TenantUsage
from tests.builders import T0, small_cluster_settings
from tests.ledger.test_span import END, HOURS, STEP, empty_outputs, ledger, load, watermarks


def hours(*bounds: int) -> list[tuple[object, object]]:
    return [(T0 + a * STEP, T0 + b * STEP) for a, b in itertools.pairwise(bounds)]


def rows_per_hour(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session:
        starts = session.scalars(select(TenantUsage.interval_start)).all()
    return [sum(1 for s in starts if T0 + h * STEP <= s < T0 + (h + 1) * STEP) for h in range(HOURS)]


def test_windows_hold_at_most_the_row_budget_and_at_least_one_settlement_window(
    pg_factory: sessionmaker[Session],
) -> None:
    load(pg_factory)
    per_hour = rows_per_hour(pg_factory)
    assert per_hour[0] == per_hour[1] > 0

    def cut(**scheduler: int) -> list[tuple[object, object]]:
        with pg_factory() as session:
            return windows_within(session, small_cluster_settings(scheduler=scheduler), T0, END)

    assert cut() == hours(0, 4)  # a day's length, the default budget
    assert cut(attribution_max_window_seconds=7200) == hours(0, 2, 4)
    two_hours = per_hour[0] + per_hour[1]
    assert per_hour[2] + per_hour[3] <= two_hours < sum(per_hour[:3])  # hour 3 has an idle stretch
    assert cut(attribution_max_usage_rows=two_hours) == hours(0, 2, 4)
    assert per_hour[1] + per_hour[2] <= two_hours - 1 < per_hour[1] + per_hour[2] + per_hour[3]
    assert cut(attribution_max_usage_rows=two_hours - 1) == hours(0, 1, 3, 4)  # greedy, in order
    assert cut(attribution_max_usage_rows=1) == hours(0, 1, 2, 3, 4)  # never below an hour
    settled_per_period = small_cluster_settings(
        scheduler={"attribution_max_usage_rows": 1, "attribution_max_window_seconds": 7200},
        policies={"settlement_window": "period"},
    )
    with pg_factory() as session:  # never cut by rows: each run settles the whole period anyway
        assert windows_within(session, settled_per_period, T0, END) == hours(0, 2, 4)


def test_the_loop_and_a_run_by_hand_cut_by_rows_and_store_what_one_run_stores(
    pg_factory: sessionmaker[Session],
) -> None:
    load(pg_factory)
    budget = max(rows_per_hour(pg_factory))  # an hour's rows: every window an hour
    settings = small_cluster_settings(scheduler={"attribution_max_usage_rows": budget})
    attribute_by_hand(small_cluster_settings(), pg_factory, T0, END)  # one run: the day fits
    one_run = ledger(pg_factory)

    empty_outputs(pg_factory)
    summary = attribute_by_hand(settings, pg_factory, T0, END)
    assert ledger(pg_factory) == one_run and summary.attributed_until == END
    with pg_factory() as session:
        runs = session.scalars(select(AttributionRun.window_start).order_by(AttributionRun.id)).all()
    assert runs == [T0 + h * STEP for h in range(HOURS)]

    empty_outputs(pg_factory)
    plans = followed_plans(settings)
    watermarks(pg_factory, plans, T0, END)
    outcome = attribute_once(settings, pg_factory, plans, now=END + timedelta(minutes=1))
    assert (outcome.status, outcome.chunks, outcome.watermark) == ("ok", HOURS, END)
    assert ledger(pg_factory) == one_run
