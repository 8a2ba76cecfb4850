"""``range_stamps`` (the counters' ``count_over_time``, timestamps only) keeps exactly the points that
``range_query`` keeps: the same series, the same whole seconds, NaN and infinite values dropped alike.

The answers are served by a stand-in session so that hypothesis can spoil them at will; the real
Prometheus behind both is covered by tests/collectors/test_counters.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.prom import PromClient
from attribution.errors import SourceQueryError, SourceUnavailableError

START = datetime(2026, 11, 2, tzinfo=UTC)
STEP = 60


class Answer:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self.content = orjson.dumps(body)


class Serving:
    """What ``requests.Session`` the client needs: ``post`` (and ``verify``), always the same answer."""

    verify = True

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def post(self, *_: Any, **__: Any) -> Answer:
        return Answer(self.body)


VALUES = st.sampled_from(["NaN", "+Inf", "-Inf", "0", "2", "3.5", "1e308"])
#: JSON numbers as Prometheus writes them: whole seconds, or with a fraction (a sub-second step)
STAMPS = st.sampled_from([0, 60, 120.0, 180.5, 240.25, 300])
SERIES = st.lists(st.tuples(STAMPS, VALUES), max_size=6)


@settings(max_examples=200, deadline=None)
@given(answer=st.lists(SERIES, max_size=4))
def test_range_stamps_keeps_the_points_range_query_keeps(answer: list[list[tuple[float, str]]]) -> None:
    t0 = int(START.timestamp())
    result = [
        {"metric": {"__name__": "m", "series": str(i)}, "values": [[t0 + ts, v] for ts, v in points]}
        for i, points in enumerate(answer)
    ]
    body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    client = PromClient("http://prometheus", session=Serving(body))  # type: ignore[arg-type]
    window = (START, START + timedelta(minutes=10))
    series = client.range_query("m", *window, STEP)
    stamps = client.range_stamps("m", *window, STEP)
    assert stamps == [(s.labels, [ts for ts, _ in s.points]) for s in series]
    assert all(type(ts) is int for _, found in stamps for ts in found)


def test_range_stamps_refuses_what_range_query_refuses() -> None:
    body = {"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}
    client = PromClient("http://prometheus", session=Serving(body))  # type: ignore[arg-type]
    with pytest.raises(SourceQueryError, match="gave a scalar result"):
        client.range_stamps("m", START, START + timedelta(minutes=1), STEP)
    many = {"metric": {}, "values": []}
    body = {"status": "success", "data": {"resultType": "matrix", "result": [many, many, many]}}
    client = PromClient("http://prometheus", session=Serving(body), max_series=2)  # type: ignore[arg-type]
    with pytest.raises(SourceQueryError, match="max_series_per_query"):
        client.range_stamps("m", START, START + timedelta(minutes=1), STEP)


def test_range_stamps_refuses_a_value_that_is_not_a_number() -> None:
    """Only timestamps are kept, but a malformed value is still a malformed answer, as range_query says."""
    bad = {"metric": {"a": "b"}, "values": [[60, "1"], [120, "abc"]]}
    body = {"status": "success", "data": {"resultType": "matrix", "result": [bad]}}
    for read in ("range_query", "range_stamps"):
        client = PromClient("http://prometheus", session=Serving(body))  # type: ignore[arg-type]
        with pytest.raises(SourceUnavailableError, match="malformed series"):
            getattr(client, read)("m", START, START + timedelta(minutes=1), STEP)
