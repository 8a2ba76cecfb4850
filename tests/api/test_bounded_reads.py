"""Reads bounded by the answer: a pool's series comes out of the database bucketed at the requested step
(rows read = points answered, not one per interval), and a series over the cap is refused before any
read. Measured on 400 days of one-minute intervals (576,000 pool rows, step 3600): 6.7-10.5 s and
+445 MiB peak RSS when bucketed in Python, 1.9-3.0 s and +22 MiB bucketed in SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.support.api import Api

WINDOW = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-02T01:00:00Z"}  # 60 one-minute intervals


@contextmanager
def pool_cost_reads(api: Api) -> Iterator[list[int]]:
    """Rows each statement reading ``pool_costs`` returned, as the driver saw them."""
    engine = api.factory.kw["bind"]
    counts: list[int] = []

    def after(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM pool_costs" in statement:
            counts.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield counts
    finally:
        event.remove(engine, "after_cursor_execute", after)


def test_a_pool_series_reads_one_row_per_point(api: Api) -> None:
    with pool_cost_reads(api) as counts:
        body = api.get("/v1/pools/small", "finance", **WINDOW, step_seconds=1800).json()
    assert [p["start"] for p in body["series"]] == ["2026-11-02T00:00:00Z", "2026-11-02T00:30:00Z"]
    assert sum(p["cost_usd_micros"] for p in body["series"]) == body["cost_usd_micros"]
    assert counts and max(counts) <= 2, counts  # the summary's one row, the series' two: never 60


def test_a_series_over_the_cap_is_refused_before_any_read(api: Api) -> None:
    long = {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}  # 43,200 points at 60 s
    with pool_cost_reads(api) as counts:
        answer = api.get("/v1/pools/small", "finance", **long, step_seconds=60)
    assert answer.status_code == 422 and "points exceed the maximum" in answer.json()["detail"]
    assert counts == []
