"""The worked example of docs/memory-time-model.md: its numbers are this test's."""

from __future__ import annotations

from attribution.catalog import get_gpu, get_model
from attribution.model.attribute import Policies
from attribution.model.gpu_cost import PricePoint, span_cost_usd_micros
from attribution.model.split import PoolInterval, Usage
from tests.support.engines import WindowEngine

MINUTE = 1_793_577_600  # 2026-11-02T00:00:00Z


def test_one_minute_of_the_405b_pool(engine_impl: WindowEngine) -> None:
    cost = span_cost_usd_micros([PricePoint(0, 3_790_000)], 8, MINUTE, MINUTE + 60)
    memory = 8 * get_gpu("H200-SXM").memory_bytes
    per_token = get_model("llama-3.1-405b").kv_bytes_per_token(2, 8)
    capacity = 1_263_648 * per_token
    assert (cost, memory, per_token, capacity) == (505_333, 1_206_038_560_768, 516_096, 652_163_678_208)
    usage = {
        ("umbrella-research", "32k-128k"): Usage(6_600_000.0),
        ("initech-assist", "0-4k"): Usage(1_200_000.0, 40, 72_000, 14_000),
    }
    pool = PoolInterval("llama-405b", MINUTE, 60, cost, memory, capacity, 0.1029, per_token, usage)
    result = engine_impl([pool], [], Policies({"llama-405b": "share"}))
    split = result.splits[0]
    assert split.kv_in_use_bytes == 67_107_642_488
    assert (split.kv_in_use_usd_micros, split.kv_free_usd_micros, split.static_usd_micros) == (
        28_118,
        245_140,
        232_075,
    )
    umbrella = result.lines[(MINUTE, "llama-405b", "umbrella-research", "32k-128k")]
    initech = result.lines[(MINUTE, "llama-405b", "initech-assist", "0-4k")]
    assert (umbrella.kv_in_use, umbrella.static, umbrella.idle) == (23_792, 196_371, 207_426)
    assert (initech.kv_in_use, initech.static, initech.idle) == (4_326, 35_704, 37_714)
    assert umbrella.total + initech.total == cost == 427_589 + 77_744
