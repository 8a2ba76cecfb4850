"""The KV collector's columns against the dict collector they replaced (tests/support/kv_oracle.py), on
vLLM and SGLang answers hypothesis draws: engines of several series (the largest reading kept), models
of no pool, info series whose label sets change within an engine, capacity from a gauge or from labels,
dtypes the catalog does not know, NaN and infinite values, stamps off the step's grid. The same rows
(floats bit for bit, NULLs where they were None) and the same series per interval."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.batch import Batch
from attribution.collectors.kv import collect_kv
from attribution.collectors.profiles import plans
from attribution.collectors.prom import PromClient
from attribution.config import CollectorName, Settings, load_settings
from tests.support.kv_oracle import collect_kv_dicts

START = datetime(2026, 11, 2, tzinfo=UTC)
T0 = int(START.timestamp())
STEP = 60
INTERVALS = 4
#: A word of each signal's query, in vLLM's and SGLang's presets.
WORDS = {
    "kv_cache_usage_perc": "usage",
    "token_usage": "usage",
    "cache_config_info": "info",
    "max_total_num_tokens": "capacity",
    "num_requests_running": "running",
    "num_running_reqs": "running",
    "num_requests_waiting": "waiting",
    "num_queue_reqs": "waiting",
}


class Answer:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self.content = orjson.dumps(body)


class Engines:
    """A stand-in ``requests.Session`` answering each signal's range query from drawn series."""

    verify = True

    def __init__(self, series: list[dict[str, Any]]) -> None:
        self.series = series

    def post(self, _url: str, data: dict[str, str], **_: Any) -> Answer:
        signal = next(name for word, name in WORDS.items() if word in data["query"])
        result = [
            {"metric": s["labels"], "values": [[T0 + stamp, v] for stamp, v in s["points"]]}
            for s in self.series
            if s["signal"] == signal
        ]
        return Answer({"status": "success", "data": {"resultType": "matrix", "result": result}})


value = st.sampled_from(["0", "0.5", "1", "2.5", "-0", "4096.5", "NaN", "+Inf"]) | st.floats(0, 1e7).map(repr)
stamps = st.lists(st.integers(1, INTERVALS).map(lambda k: k * STEP) | st.just(STEP + 30), unique=True).map(
    sorted
)
points = stamps.flatmap(
    lambda ts: st.lists(value, min_size=len(ts), max_size=len(ts)).map(
        lambda vs: list(zip(ts, vs, strict=True))
    )
)


@st.composite
def one_series(draw: st.DrawFn) -> dict[str, Any]:
    labels = {"pod": draw(st.sampled_from(["p0", "p1"])), "instance": draw(st.sampled_from(["x", "y"]))}
    for name, values in (
        ("model_name", ["served-a", "served-b", "unknown"]),
        ("engine", ["0", "1"]),
        ("dp_rank", ["0", "1"]),
        ("cache_dtype", ["auto", "fp8", "bfloat16", "weird"]),
        ("kv_cache_size_tokens", ["4096", "None"]),
        ("num_gpu_blocks", ["100", "x"]),
        ("block_size", ["16"]),
    ):
        if draw(st.booleans()):
            labels[name] = draw(st.sampled_from(values))
    signal = draw(st.sampled_from(["usage", "usage", "info", "capacity", "running", "waiting"]))
    return {"labels": labels, "signal": signal, "points": draw(points)}


def config(profile: str) -> Settings:
    pools = [
        {
            "name": name,
            "model": "llama-3.1-8b",
            "served_model_name": f"served-{name}",
            "gpu_selector": {"pod": f"{name}-.*"},
        }
        for name in ("a", "b")
    ]
    return load_settings(
        database_url="sqlite://",
        inventory={"H100-SXM": 2},
        gpu_prices=[{"gpu_type": "H100-SXM", "usd_per_gpu_hour": "2.99"}],
        pools=pools,
        sources=[{"name": "prom", "url": "http://prometheus", "profiles": [profile]}],
    )


def _rows(batch: Batch) -> list[dict[str, Any]]:
    def shown(v: Any) -> Any:
        return ("float", struct.pack(">d", v)) if isinstance(v, float) else v

    rows = [{k: shown(v) for k, v in r.items()} for r in batch.rows]
    return sorted(rows, key=lambda r: (r["interval_start"], r["pool"], r["engine_id"]))


@settings(max_examples=300, deadline=None)
@given(series=st.lists(one_series(), max_size=8), profile=st.sampled_from(["vllm", "sglang"]))
def test_kv_columns_are_the_dict_rows(series: list[dict[str, Any]], profile: str) -> None:
    # one series per (signal, label set), as an answer has it
    series = list({(s["signal"], tuple(sorted(s["labels"].items()))): s for s in series}.values())
    settings_ = config(profile)
    plan = next(p for p in plans(settings_) if p.collector is CollectorName.KV)
    client = PromClient("http://prometheus", session=Engines(series))  # type: ignore[arg-type]
    end = START + timedelta(seconds=INTERVALS * STEP)
    old = collect_kv_dicts(client, settings_, plan, START, end)
    new = collect_kv(client, settings_, plan, START, end)
    assert _rows(new) == _rows(old)
    assert new.series == old.series
