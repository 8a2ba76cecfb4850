"""A window is complete only when every cluster is collected and attributed through it: the rule the
period close applies (``close_period`` refuses a period whose coverage report is not complete)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.store.cluster import cluster_cost_usd_micros
from attribution.store.collection_state import ensure_watermark, write_source_coverage
from attribution.store.coverage import coverage_report
from attribution.store.session import unit_of_work
from attribution.store.tables import ClusterCost
from attribution.store.writes import insert_all

START = datetime(2026, 11, 2, tzinfo=UTC)
STEP = 60
HOUR = 3600 // STEP


def _at(i: int) -> datetime:
    return START + timedelta(seconds=STEP * i)


def _collected(session: Session, cluster: str, intervals: range) -> None:
    ensure_watermark(session, "gpu", "prometheus", START, START, cluster)
    rows = [
        {
            "collector": "gpu",
            "source": "prometheus",
            "cluster": cluster,
            "interval_start": _at(i),
            "status": "present",
            "series": 8,
            "rows": 8,
            "collected_at": START,
        }
        for i in intervals
    ]
    write_source_coverage(session, rows)


def _attributed(session: Session, cluster: str, intervals: range, cost_usd_micros: int) -> None:
    rows = [
        {
            "interval_start": _at(i),
            "cluster": cluster,
            "cost_usd_micros": cost_usd_micros,
            "unallocated_usd_micros": 0,
            "unmeasured_usd_micros": 0,
            "gpus_in_inventory": 8,
            "gpus_sampled": 8,
        }
        for i in intervals
    ]
    insert_all(session, ClusterCost, rows)


def test_a_window_is_whole_only_when_every_cluster_is(sqlite_factory: sessionmaker[Session]) -> None:
    end = _at(HOUR)
    with unit_of_work(sqlite_factory) as session:
        _collected(session, "east", range(HOUR))
        _collected(session, "west", range(HOUR // 2))  # west's source went down half way
        _attributed(session, "east", range(HOUR), 1_000)
        _attributed(session, "west", range(HOUR // 2), 3_000)
    with sqlite_factory() as session:
        report = coverage_report(session, START, end, STEP)
        bill, attributed = cluster_cost_usd_micros(session, START, end)
        east_only = cluster_cost_usd_micros(session, START, end, "east")
    assert (bill, attributed) == (HOUR * 1_000 + HOUR // 2 * 3_000, HOUR // 2)
    assert east_only == (HOUR * 1_000, HOUR)
    by_cluster = {s.cluster: s.not_collected for s in report.sources}
    assert by_cluster == {"east": 0, "west": HOUR // 2}  # east's source never makes up for west's
    assert not report.complete
    with unit_of_work(sqlite_factory) as session:  # west catches up
        _collected(session, "west", range(HOUR // 2, HOUR))
        _attributed(session, "west", range(HOUR // 2, HOUR), 3_000)
    with sqlite_factory() as session:
        report = coverage_report(session, START, end, STEP)
    assert report.complete and report.intervals_attributed == HOUR


def test_a_cluster_with_watermarks_but_no_cost_yet_holds_the_window(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with unit_of_work(sqlite_factory) as session:
        _collected(session, "east", range(HOUR))
        _attributed(session, "east", range(HOUR), 1_000)
        ensure_watermark(session, "gpu", "prometheus", START, START, "west")  # down from the start
    with sqlite_factory() as session:
        report = coverage_report(session, START, _at(HOUR), STEP)
    assert report.intervals_attributed == 0 and not report.complete
