"""The gateway's column paths against the per-series code they replaced, on answers hypothesis draws:
``range_columns`` keeps the points ``range_query`` keeps, and ``counter_columns`` gives each series the
increases ``counter_increases`` gives it (baselines, new series, resets inside an interval, silent gaps),
bit for bit. The answers are served by a stand-in session, one per query kind; the real Prometheus and
VictoriaMetrics behind both are covered by tests/collectors/test_counters.py."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.answers import parse_floats
from attribution.collectors.counter_columns import counter_columns
from attribution.collectors.counters import counter_increases
from attribution.collectors.prom import PromClient

START = datetime(2026, 11, 2, tzinfo=UTC)
T0 = int(START.timestamp())
STEP = 60
INTERVALS = 6


class Answer:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self.content = orjson.dumps(body)


def matrix(result: list[dict[str, Any]], kind: str = "matrix") -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": kind, "result": result}}


class Counters:
    """A stand-in ``requests.Session``: the answer of each query the counters send, from drawn series."""

    verify = True

    def __init__(self, series: list[dict[str, Any]]) -> None:
        self.series = series

    def post(self, _url: str, data: dict[str, str], **_: Any) -> Answer:
        query = data["query"]
        out = []
        for i, s in enumerate(self.series):
            metric = {"__name__": "m", "tenant": str(i)}
            if query == "m":
                values = [[T0 + k * STEP, v] for k, v in s["boundaries"]]
            elif query.startswith("last_over_time"):
                if s["baseline"] is None:
                    continue
                out.append({"metric": {"tenant": str(i)}, "value": [T0, s["baseline"]]})
                continue
            elif query.startswith("resets"):
                values = [[T0 + k * STEP, "1"] for k in s["resets"]]
            elif query.startswith("count_over_time"):
                metric = {"tenant": str(i)}
                values = [[T0 + k * STEP, "4"] for k in s["sampled"]]
            else:  # the raw samples of an interval with a reset
                values = [[T0 + j, v] for j, v in enumerate(s["raw"])]
            out.append({"metric": metric, "values": values})
        kind = "vector" if query.startswith("last_over_time") else "matrix"
        return Answer(matrix(out, kind))


value = st.sampled_from(["0", "1", "2.5", "7", "1e3", "3.25", "NaN", "-0"]) | st.floats(0, 1e9).map(repr)
boundaries = st.lists(st.tuples(st.integers(0, INTERVALS), value), max_size=INTERVALS + 1).map(
    lambda points: sorted(dict(points).items())
)
one_series = st.fixed_dictionaries(
    {
        "boundaries": boundaries,
        "baseline": st.none() | value,
        "resets": st.lists(st.integers(1, INTERVALS), unique=True, max_size=2).map(sorted),
        "sampled": st.lists(st.integers(1, INTERVALS), unique=True, max_size=INTERVALS).map(sorted)
        | st.just(list(range(1, INTERVALS + 1))),
        "raw": st.lists(value.filter(lambda v: v != "NaN"), max_size=4),
    }
)


def bits(found: dict[int, float]) -> dict[int, bytes]:
    return {ts: struct.pack(">d", v) for ts, v in found.items()}


@settings(max_examples=300, deadline=None)
@given(series=st.lists(one_series, max_size=4))
def test_counter_columns_are_counter_increases(series: list[dict[str, Any]]) -> None:
    client = PromClient("http://prometheus", session=Counters(series))  # type: ignore[arg-type]
    end = START + timedelta(seconds=INTERVALS * STEP)
    old = counter_increases(client, "m", START, end, STEP, 3600)
    new = counter_columns(client, "m", START, end, STEP, 3600)
    found: list[dict[int, float]] = [{} for _ in new.labels]
    for i, ts, v in zip(new.series.tolist(), new.starts.tolist(), new.increases.tolist(), strict=True):
        found[i][ts] = v
    assert new.labels == [c.labels for c in old]
    assert [bits(f) for f in found] == [bits(c.increases) for c in old]
    assert new.sampled == frozenset().union(*(c.sampled for c in old))
    assert new.silent == frozenset().union(*(c.silent for c in old))


class Serving:
    verify = True

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def post(self, *_: Any, **__: Any) -> Answer:
        return Answer(self.body)


STAMPS = st.sampled_from([0, 60, 120.0, 180.5, 240.25, 300])


@settings(max_examples=200, deadline=None)
@given(
    answer=st.lists(
        st.lists(st.tuples(STAMPS, value | st.sampled_from(["+Inf", "-Inf"])), max_size=6), max_size=4
    )
)
def test_range_columns_keep_the_points_range_query_keeps(answer: list[list[tuple[float, str]]]) -> None:
    result = [
        {"metric": {"__name__": "m", "series": str(i)}, "values": [[T0 + ts, v] for ts, v in points]}
        for i, points in enumerate(answer)
    ]
    client = PromClient("http://prometheus", session=Serving(matrix(result)))  # type: ignore[arg-type]
    window = (START, START + timedelta(minutes=10))
    points = client.range_query("m", *window, STEP)
    columns = client.range_columns("m", *window, STEP)
    assert columns.labels == [s.labels for s in points]
    assert [columns.series(i) for i in range(len(points))] == points
    assert columns.stamps.dtype.kind == "i" and columns.values.dtype.kind == "f"


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.sampled_from(["0", "-0", "1", "2.5", "NaN", "+Inf", "1e3"])
        | st.floats().map(repr)
        | st.integers(),
        max_size=3000,
    ),
    repeats=st.integers(1, 40),
)
def test_floats_parsed_once_per_text_are_floats_parsed_each(texts: list[Any], repeats: int) -> None:
    """Each distinct text parsed once (an answer of few values) gives what ``float`` of each gives, bit
    for bit (signed zeros, NaN), JSON numbers among the texts included."""
    texts = (texts * repeats)[:5000]
    found = parse_floats(texts)
    assert found.tobytes() == np.fromiter(map(float, texts), np.float64, len(texts)).tobytes()


def test_json_zeros_keep_their_sign() -> None:
    texts: list[Any] = ["1", 0, -0.0, "-0"] * 100  # 0 and -0.0 are one key of a set
    found = parse_floats(texts)
    assert found.tobytes() == np.array([float(t) for t in texts]).tobytes()
