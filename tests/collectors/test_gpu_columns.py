"""The GPU collector's columns against the dict collector they replaced (tests/support/gpu_oracle.py), on
dcgm answers hypothesis draws: whole, MIG and shared GPUs, GPUs of several series, of unknown models,
duplicate series of one key (the largest kept), missing gauges, NaN and infinite values, stamps off the
step's grid. The same rows (every value, floats bit for bit, NULLs where they were None), the same
series per interval and the same unplaced intervals."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.collectors.batch import Batch
from attribution.collectors.gpu import collect_gpu
from attribution.collectors.profiles import plans
from attribution.collectors.prom import PromClient
from attribution.config import CollectorName
from tests.collectors.test_dcgm_shapes import settings_for
from tests.support.gpu_oracle import collect_gpu_dicts

START = datetime(2026, 11, 2, tzinfo=UTC)
T0 = int(START.timestamp())
STEP = 60
INTERVALS = 4
METRICS = {
    "DCGM_FI_DEV_FB_USED": "used",
    "DCGM_FI_DEV_FB_FREE": "free",
    "DCGM_FI_DEV_GPU_UTIL": "util",
    "DCGM_FI_DEV_FB_RESERVED": "reserved",
    "DCGM_FI_DEV_POWER_USAGE": "power",
}
MODELS = ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA A30", "Some GPU"]


class Answer:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self.content = orjson.dumps(body)


class Dcgm:
    """A stand-in ``requests.Session`` answering each signal's range query from drawn series."""

    verify = True

    def __init__(self, series: list[dict[str, Any]]) -> None:
        self.series = series

    def post(self, _url: str, data: dict[str, str], **_: Any) -> Answer:
        signal = next(name for metric, name in METRICS.items() if metric in data["query"])
        result = [
            {"metric": s["labels"], "values": [[T0 + stamp, v] for stamp, v in s[signal]]}
            for s in self.series
            if s[signal] is not None
        ]
        return Answer({"status": "success", "data": {"resultType": "matrix", "result": result}})


value = st.sampled_from(["0", "1", "2.5", "3.5", "-0", "1e9", "NaN", "+Inf"]) | st.floats(0, 1e12).map(repr)
# ascending stamps, on the step's grid (k * STEP, k >= 1) or now and then off it
stamps = st.lists(st.integers(1, INTERVALS).map(lambda k: k * STEP) | st.just(STEP + 30), unique=True).map(
    sorted
)
points = st.none() | stamps.flatmap(lambda ts: st.lists(value, min_size=len(ts), max_size=len(ts)).map(
    lambda vs: list(zip(ts, vs, strict=True))
))  # fmt: skip


@st.composite
def labels(draw: st.DrawFn) -> dict[str, str]:
    out = {
        "UUID": draw(st.sampled_from(["GPU-a", "GPU-b", "GPU-c"])),
        "modelName": draw(st.sampled_from(MODELS)),
        "Hostname": draw(st.sampled_from(["node-1", "node-2"])),
        "instance": draw(st.sampled_from(["x", "y"])),  # two series of one key may differ only here
    }
    if draw(st.integers(0, 2)) == 0:
        out["GPU_I_PROFILE"] = draw(st.sampled_from(["1g.10gb", "3g.40gb", "1g.6gb", "5g.99gb"]))
        out["GPU_I_ID"] = draw(st.sampled_from(["1", "2", "13"]))
    if draw(st.booleans()):
        out["pod"] = draw(st.sampled_from(["llama-0", "small-1", "tiny-2", "gpu-burn-1"]))
        out["namespace"] = "llm"
    if draw(st.integers(0, 5)) == 0:
        out["vgpu"] = "1"
    if draw(st.integers(0, 9)) == 0:
        del out["UUID"]
    return out


one_series = st.fixed_dictionaries(
    {"labels": labels(), "used": points, "free": points, "util": points, "reserved": points, "power": points}
)


def _rows(batch: Batch) -> list[dict[str, Any]]:
    def shown(v: Any) -> Any:
        return ("float", struct.pack(">d", v)) if isinstance(v, float) else v

    rows = [{k: shown(v) for k, v in r.items()} for r in batch.rows]
    return sorted(rows, key=lambda r: (r["interval_start"], r["gpu_uuid"], r["part"]))


@settings(max_examples=400, deadline=None)
@given(series=st.lists(one_series, max_size=8))
def test_gpu_columns_are_the_dict_rows(series: list[dict[str, Any]]) -> None:
    # one series per label set, as a Prometheus answer has it
    series = list({tuple(sorted(s["labels"].items())): s for s in series}.values())
    config = settings_for("http://prometheus")
    plan = next(p for p in plans(config) if p.collector is CollectorName.GPU)
    client = PromClient("http://prometheus", session=Dcgm(series))  # type: ignore[arg-type]
    end = START + timedelta(seconds=INTERVALS * STEP)
    old = collect_gpu_dicts(client, config, plan, START, end)
    new = collect_gpu(client, config, plan, START, end)
    assert _rows(new) == _rows(old)
    assert new.series == old.series
    assert new.unplaced == old.unplaced
