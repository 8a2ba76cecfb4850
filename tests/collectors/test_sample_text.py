"""Range answers read from their text (sample_text, number_text) agree with the JSON path, or step aside.

The oracle is the JSON path the client used before (and still uses when the text path declines):
``orjson`` then :func:`series_columns` / :func:`series_stamps`, with ``float()`` per value. Answers are
made by hypothesis (labels that hold ``]]``, ``"values":[``, quotes and escapes; values in every form
Go's strconv writes, and some no source writes) and served through the client by a stand-in session,
so the whole of ``range_columns`` and ``range_stamps`` is compared, errors included. The answers of a
real Prometheus and a real VictoriaMetrics must take the text path: a silent fall back to JSON would
cost the speed without a failing test otherwise.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from unittest import mock

import numpy as np
import orjson
import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st

from attribution.collectors import sample_text
from attribution.collectors.answers import SeriesColumns, series_columns, series_stamps
from attribution.collectors.number_text import _json_numbers, _plain_decimals, parse_numbers
from attribution.collectors.prom import MALFORMED, PromClient
from attribution.errors import SourceUnavailableError
from attribution.localprom import LocalPrometheus
from tests.collectors.test_prom_stamps import START, STEP, Serving
from tests.support.simulated import END
from tests.support.simulated import START as SIM_START
from tests.support.victoria import LocalVictoriaMetrics


def go_format(x: float) -> str:
    """A double as Prometheus writes it (strconv 'f', -1 for ordinary sizes, 'e' beyond): NaN, +Inf."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    text = repr(x)
    return text[:-2] if text.endswith(".0") else text


PLAIN = st.from_regex(r"-?[0-9]{1,18}(\.[0-9]{0,18})?", fullmatch=True)
POINT_FIRST = st.from_regex(r"-?\.[0-9]{1,16}", fullmatch=True)
EXPONENT = st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,5})?e[+-]?[0-9]{1,3}", fullmatch=True)
NUMBER_TEXTS = st.one_of(
    PLAIN,
    POINT_FIRST,
    EXPONENT,
    st.floats(allow_nan=True, allow_infinity=True).map(go_format),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "-0", "0.0", "5.", "+5", "1e308", "1e999", "-1e999"]),
)
#: Texts float() refuses (no comma: fields are comma-separated).
REFUSED = st.sampled_from(["", "-", ".", "1.2.3", "abc", "1e", "--1", "1-2", "NaNa", "In", "0x10", "e5"])


def doubles_equal(found: np.ndarray[Any, Any], expected: list[float]) -> bool:
    """The same doubles bit for bit (any NaN matches any NaN: the text path and float() make NaN alike,
    but its payload is not what is compared)."""
    wanted = np.array(expected, dtype=np.float64)
    nan = np.isnan(wanted)
    return bool((np.isnan(found) == nan).all() and found[~nan].tobytes() == wanted[~nan].tobytes())


@settings(max_examples=400, deadline=None)
@given(texts=st.lists(NUMBER_TEXTS, min_size=1, max_size=40))
@example(texts=["999999999999999", "9999999999999999", "0.000000000000001", "123456789012345.6"])
@example(texts=["1759276800", "81920", "23.25", "-0", "-.5", "5.", "007", "0.1", "0.3"])
@example(texts=["90.39856167596325", "988084914218.9019", "9.065583532520021"])  # 16 digits above 2**53:
def test_parse_numbers_gives_the_doubles_float_gives(texts: list[str]) -> None:  # m / 10**k rounds twice
    found = parse_numbers(",".join(texts).encode(), len(texts))
    assert found is not None
    assert doubles_equal(found, [float(t) for t in texts])


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(NUMBER_TEXTS, max_size=10), bad=REFUSED, at=st.integers(min_value=0))
def test_parse_numbers_refuses_a_text_float_refuses(texts: list[str], bad: str, at: int) -> None:
    texts.insert(at % (len(texts) + 1), bad)
    assert parse_numbers(",".join(texts).encode(), len(texts)) is None


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.from_regex(r"-?[0-9]{1,8}(\.[0-9]{1,7})?", fullmatch=True), min_size=1, max_size=20))
def test_plain_decimals_take_the_fast_path(texts: list[str]) -> None:
    """Decimals of at most 15 digits are read in the 64-bit lanes, not by numpy's reader (the speed)."""
    buf = np.frombuffer(",".join(texts).encode(), dtype=np.uint8)
    ends = np.cumsum([len(t) + 1 for t in texts]) - 1
    values, plain = _plain_decimals(buf, ends, np.array([len(t) for t in texts], dtype=np.int64))
    assert plain.all()
    assert doubles_equal(values, [float(t) for t in texts])


#: Numbers as JSON writes them (what orjson reads): no "+", no point at either end, no leading zero.
JSON_NUMBER_TEXTS = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,29})(\.[0-9]{1,20})?", fullmatch=True),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,12})?[eE][+-]?[0-9]{1,3}", fullmatch=True),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
).filter(lambda text: text != "-0" and math.isfinite(float(text)))


@settings(max_examples=400, deadline=None)
@given(texts=st.lists(JSON_NUMBER_TEXTS, min_size=1, max_size=40))
@example(texts=["1759276800", "81920", "23.25", "-0.0", "0.1", "5e-324", "2.4703282292062328e-324"])
@example(texts=["9007199254740993", "18446744073709551616", "123456789012345678901234567890", "-0e5"])
# a decimal just above a halfway point, and an exact tie (rounds to even): a reader exact only on short
# texts gets these wrong
@example(texts=["9007199254740993.0000000000000000000000000001", "9007199254740993.0", "-9007199254740995"])
@example(texts=["1.00000000000000011102230246251565404236316680908203125", "1.00000000000000011102230246252"])
@example(texts=["2.2250738585072011e-308", "4.9406564584124654e-324", "1.7976931348623157e308"])
def test_json_numbers_give_the_doubles_float_gives(texts: list[str]) -> None:
    """Texts of JSON numbers are read by orjson (the fast reader), each the double float() gives: the
    correctly rounded decimal, an integer's nearest double, halfway cases and subnormals included."""
    text = ",".join(texts).encode()
    found = _json_numbers(text, len(texts))
    assert found is not None
    assert doubles_equal(found, [float(t) for t in texts])
    assert parse_numbers(text, len(texts)) is not None


@pytest.mark.parametrize("text", [b"-0", b"-0,1", b"1,-0", b"1,-0,2"])
def test_a_minus_zero_field_keeps_its_sign(text: bytes) -> None:
    """JSON reads the integer -0 as 0; float() gives -0.0: such a text is left to the lanes."""
    fields = text.split(b",")
    assert _json_numbers(text, len(fields)) is None
    found = parse_numbers(text, len(fields))
    assert found is not None
    assert doubles_equal(found, [float(f) for f in fields])
    assert np.signbit(found[fields.index(b"-0")])


NOT_JSON_NUMBERS = [b"true", b"1,null", b"[1]", b'"1"', b"1,{}", b"NaN", b"+5", b"5.", b".5", b"007"]


@pytest.mark.parametrize("text", NOT_JSON_NUMBERS)
def test_json_numbers_take_only_numbers(text: bytes) -> None:
    """What is not a JSON number (a literal, a bracket, a quote, NaN, the forms JSON refuses) is never read
    by orjson: true would be 1.0, and the lanes decide the rest (or refuse it)."""
    assert _json_numbers(text, text.count(b",") + 1) is None


def test_json_numbers_refuse_a_wrong_count() -> None:
    assert _json_numbers(b"1,2,3", 2) is None
    assert _json_numbers(b"1,2", 3) is None
    assert _json_numbers(b"1,,3", 3) is None
    assert _json_numbers(b"", 1) is None


@pytest.mark.parametrize("text", [b"1e400", b"-1e400", b"9" * 400, b"1," + b"1" * 800 + b",2", b"-00,1"])
def test_what_json_cannot_hold_goes_to_the_lanes(text: bytes) -> None:
    """An overflow (float() gives inf) or a form JSON refuses is read by the lanes, as float() reads it,
    never an error."""
    fields = text.split(b",")
    assert _json_numbers(text, len(fields)) is None
    found = parse_numbers(text, len(fields))
    assert found is not None
    assert doubles_equal(found, [float(f) for f in fields])


def test_parse_numbers_refuses_a_wrong_count() -> None:
    assert parse_numbers(b"1,2,3", 2) is None
    assert parse_numbers(b"1,2", 3) is None
    assert parse_numbers(b"", 0) is not None
    assert parse_numbers(b"1", 0) is None


LABEL_VALUES = st.one_of(
    st.sampled_from(["vllm-0", "acme", "]]", '"values":[', 'a"b', "back\\slash", '[[1,"2"]]', "ünï"]),
    st.text(max_size=8),
)
LABELS = st.dictionaries(st.sampled_from(["__name__", "tenant", "pod", "values", "metric"]), LABEL_VALUES)
#: JSON numbers as Prometheus writes timestamps: whole seconds, or with a fraction (a sub-second step)
OFFSETS = st.sampled_from([0, 60, 120.0, 180.5, 240.25, 300, 300.5])
VALUE_TEXTS = st.one_of(NUMBER_TEXTS, NUMBER_TEXTS, NUMBER_TEXTS, REFUSED)
SERIES = st.tuples(LABELS, st.lists(st.tuples(OFFSETS, VALUE_TEXTS), max_size=6))


def _body(answer: list[tuple[dict[str, str], list[tuple[float, str]]]]) -> dict[str, Any]:
    t0 = int(START.timestamp())
    result = [{"metric": labels, "values": [[t0 + ts, v] for ts, v in points]} for labels, points in answer]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def _outcome(read: Any) -> Any:
    """What ``read`` gives, or that it failed as a malformed answer (the client maps MALFORMED so)."""
    try:
        return read()
    except (SourceUnavailableError, *MALFORMED):
        return SourceUnavailableError


def _as_tuple(columns: SeriesColumns) -> tuple[Any, ...]:
    return (
        columns.labels,
        columns.offsets.tolist(),
        columns.stamps.tolist(),
        columns.stamps.dtype,
        np.isnan(columns.values).tolist(),
        np.nan_to_num(columns.values).tobytes(),
    )


@settings(max_examples=300, deadline=None)
@given(answer=st.lists(SERIES, max_size=4), piece_bytes=st.sampled_from([sample_text.PIECE_BYTES, 1, 12]))
def test_range_reads_equal_the_json_path(
    answer: list[tuple[dict[str, str], list[tuple[float, str]]]], piece_bytes: int
) -> None:
    """range_columns and range_stamps give what the JSON path gives, errors alike, whatever the answer,
    read in one piece or in many (``piece_bytes`` 1: a piece per series; 12: some pieces of several)."""
    body = _body(answer)
    client = PromClient("http://prometheus", session=Serving(body))  # type: ignore[arg-type]
    window = (START, START + timedelta(minutes=10))
    result = orjson.loads(orjson.dumps(body))["data"]["result"]

    with mock.patch.object(sample_text, "PIECE_BYTES", piece_bytes):
        found = _outcome(lambda: client.range_columns("m", *window, STEP))
        found_stamps = _outcome(lambda: client.range_stamps("m", *window, STEP))
    expected = _outcome(lambda: series_columns(orjson.loads(orjson.dumps(result)))[0])
    if isinstance(expected, SeriesColumns):
        assert isinstance(found, SeriesColumns)
        assert _as_tuple(found) == _as_tuple(expected)
    else:
        assert found is SourceUnavailableError

    expected_stamps = _outcome(lambda: series_stamps(orjson.loads(orjson.dumps(result))))
    if isinstance(expected_stamps, list):
        assert found_stamps == expected_stamps
    else:
        assert found_stamps is SourceUnavailableError


def test_pieces_join_to_the_columns_of_one() -> None:
    """Many series read in pieces of a few series each give the columns of one piece: every series'
    pairs in order, the NaN and infinities counted across pieces."""
    segments = [
        b",".join(b'[%d,"%s"]' % (1_700_000_000 + 60 * j, text) for j, text in enumerate(texts))
        for texts in ([b"1", b"2.5"], [], [b"NaN", b"-3"], [b"+Inf"], [b"7e3", b"0.125", b"-Inf"], [b"4"])
    ]
    whole = sample_text.read_samples(segments)
    with mock.patch.object(sample_text, "PIECE_BYTES", 20):
        assert sample_text._piece_ends(segments) == [1, 3, 5, 6]  # the 19-byte fourth joins the fifth
        pieces = sample_text.read_samples(segments)
    assert whole is not None and pieces is not None
    assert pieces.lengths.tolist() == whole.lengths.tolist() == [2, 0, 2, 1, 3, 1]
    assert pieces.stamps.tolist() == whole.stamps.tolist()
    assert pieces.values.tobytes() == whole.values.tobytes()
    assert (pieces.nan_texts, pieces.inf_texts) == (whole.nan_texts, whole.inf_texts) == (1, 2)
    with mock.patch.object(sample_text, "PIECE_BYTES", 20):  # a bad pair in a later piece refuses all
        assert sample_text.read_samples([*segments, b'[1700000000,"x"]']) is None


def _text_path(body: bytes) -> tuple[SeriesColumns, int] | None:
    cut = sample_text.cut(body)
    assert cut is not None
    return sample_text.columns(orjson.loads(cut.skeleton)["data"]["result"], cut.segments)


@settings(max_examples=200, deadline=None)
@given(
    answer=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["tenant", "pod"]), st.sampled_from(["a", "vllm-0", "acme"])),
            st.lists(st.tuples(OFFSETS, NUMBER_TEXTS), max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_answers_shaped_as_prometheus_writes_them_take_the_text_path(
    answer: list[tuple[dict[str, str], list[tuple[float, str]]]],
) -> None:
    body = orjson.dumps(_body(answer))
    found = _text_path(body)
    assert found is not None
    expected = series_columns(orjson.loads(body)["data"]["result"])
    assert _as_tuple(found[0]) == _as_tuple(expected[0])
    assert found[1] == expected[1]


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1, "2"]]}]}}',
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["1","2"]]}]}}',
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}}',
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2",3]]}]}}',
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"nan"]]}]}}',
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"]]},'
        b'{"metric":{"a":"]]"},"values":[[1,"2"]]}]}}',
    ],
)
def test_the_text_path_steps_aside_from_any_other_shape(body: bytes) -> None:
    """Whitespace, a quoted timestamp, an unquoted value, a third element, a lowercase nan, a ``]]`` in a
    label after a series (which spoils the skeleton): declined, so the JSON path decides (and reads them as
    it always did; the client parses the whole answer when the skeleton is no JSON)."""
    cut = sample_text.cut(body)
    if cut is None:
        return
    try:
        result = orjson.loads(cut.skeleton)["data"]["result"]
    except orjson.JSONDecodeError:
        return
    assert sample_text.columns(result, cut.segments) is None
    assert sample_text.stamps(result, cut.segments) is None


@pytest.mark.parametrize("backend", ["sim_prometheus", "sim_victoria"])
@pytest.mark.parametrize(
    "query",
    [
        "DCGM_FI_DEV_FB_USED",
        "avg_over_time(DCGM_FI_DEV_POWER_USAGE[59999ms])",
        "llm_tenant_kv_token_seconds_total",
        "vllm:kv_cache_usage_perc",
    ],
)
def test_real_answers_take_the_text_path(backend: str, query: str, request: pytest.FixtureRequest) -> None:
    """Prometheus' and VictoriaMetrics' own answers (gzip as the client asks) are read from their text,
    to the same columns the JSON path gives."""
    source: LocalPrometheus | LocalVictoriaMetrics = request.getfixturevalue(backend)
    form = {
        "query": query,
        "start": str(int(SIM_START.timestamp())),
        "end": str(int((END - timedelta(minutes=1)).timestamp())),
        "step": "60s",
    }
    body = requests.post(f"{source.url}/api/v1/query_range", data=form, timeout=30).content
    expected = series_columns(orjson.loads(body)["data"]["result"])
    assert len(expected[0].values) > 0, "the simulated history has this signal"
    found = _text_path(body)
    assert found is not None
    assert _as_tuple(found[0]) == _as_tuple(expected[0])
