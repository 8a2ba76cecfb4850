"""The same stored lines give the same answer to the last bit, whatever order they lie in on disk.

The two-replica test (tests/scheduler/test_two_replicas.py) failed in full runs on a busy machine: the
stored lines equalled the single-process run's row for row, yet the API's chargeback differed. Float
columns (``kv_token_seconds``, ``kv_byte_seconds``) were summed by ``sum()`` in whatever order Postgres
read the rows, and float addition is not associative. Two replicas write a window's lines in several
runs, each deleting and re-inserting, so the heap order (and, after autovacuum or autoanalyze, the plan)
differs from a single run's. The sum is now taken in key order, so the order on disk cannot show.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from attribution.reports.lineitems import window_lines
from attribution.store.session import unit_of_work
from attribution.store.tables import AttributedCost
from tests.builders import T0
from tests.support.lines import add_lines

#: 2**53 and then ones: summed in interval order each 1.0 is lost to rounding; in reverse order, not.
VALUES = [2.0**53, *([1.0] * 7)]


def line(minute: int, value: float, day: int) -> AttributedCost:
    return AttributedCost(
        interval_start=T0 + timedelta(days=day, minutes=minute),
        pool="small",
        tenant="acme",
        tier="0-4k",
        estimated=False,
        kv_in_use_usd_micros=1,
        static_usd_micros=0,
        idle_usd_micros=0,
        unmeasured_usd_micros=0,
        total_usd_micros=1,
        kv_token_seconds=value,
        kv_byte_seconds=value,
        requests=1,
        prompt_tokens=1,
        generation_tokens=1,
    )


def in_key_order(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def test_window_sums_do_not_depend_on_the_order_rows_were_written(
    pg_tx: sessionmaker[Session],
) -> None:
    minutes = list(enumerate(VALUES))
    with unit_of_work(pg_tx) as session:  # day 0 written in interval order, day 1 in reverse
        add_lines(session, [line(m, v, 0) for m, v in minutes])
    with unit_of_work(pg_tx) as session:
        add_lines(session, [line(m, v, 1) for m, v in reversed(minutes)])
    expected = in_key_order(VALUES)
    with pg_tx() as session:
        # the plan Postgres picks for a large window or once autoanalyze has run: a scan in heap order
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            session.execute(text(f"SET LOCAL {setting} = off"))
        for day in (0, 1):
            start = T0 + timedelta(days=day)
            (found,) = window_lines(session, start, start + timedelta(hours=1))
            assert (found.kv_token_seconds, found.kv_byte_seconds) == (expected, expected), day
