"""TensorRT-LLM, both ways it is deployed, on Prometheus and VictoriaMetrics: the ``trtllm-triton`` and
``trtllm-serve`` presets read the exporters' exact series (hand-built here, with answers known by hand) and
the simulator's TensorRT-LLM pools (checked against its ground truth).

Triton's series: ``nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type, model, version}`` and
``nv_trt_llm_request_metrics{request_type, model, version}`` (triton-inference-server/tensorrtllm_backend
``custom_metrics_reporter.cc``), as a release with ``fraction``/``waiting`` and an older one without;
trtllm-serve's: ``trtllm_*`` gauges with ``model_name`` and ``engine_type``.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attribution.collectors.profiles import plans
from attribution.collectors.prom import PromClient
from attribution.collectors.run import fetch
from attribution.config import CollectorName, Settings, load_settings
from attribution.sim import generate_history, scenario
from attribution.sim.cluster import ClusterSpec
from tests.support.backends import BACKENDS, serve

T0 = datetime(2026, 11, 3, tzinfo=UTC)
S0 = int(T0.timestamp())
WINDOW = (T0, T0 + timedelta(minutes=10))
SCRAPES = range(S0 - 300, S0 + 900 + 1, 15)
NEW = {"model": "llama-trt", "version": "1", "pod": "triton-0", "namespace": "llm", "job": "triton"}
OLD = {"model": "mistral-trt", "version": "3", "pod": "triton-old-0", "namespace": "llm", "job": "triton"}
SERVE = {"model_name": "qwen-trt", "engine_type": "trtllm", "pod": "trtserve-0", "job": "trtllm-serve"}


def exposition(path: Path) -> Path:
    """Triton (new release: 6,000 blocks of 32 tokens, 1,500 used; old release: 4,000 of 64, 1,000 used,
    no ``fraction``/``waiting``) and trtllm-serve (10,000 blocks of 32 tokens, 25% used)."""
    lines: dict[str, list[str]] = defaultdict(list)

    def add(name: str, labels: dict[str, str], value: float, ts: int) -> None:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines[name].append(f"{name}{{{inner}}} {value} {ts}\n")

    for ts in SCRAPES:
        for base, blocks, per, used, newer in ((NEW, 6000, 32, 1500, True), (OLD, 4000, 64, 1000, False)):
            kv = {"max": blocks, "free": blocks - used, "used": used, "tokens_per": per, "reused": 0}
            requests = {"active": 9, "max": 256, "scheduled": 7, "context": 2}
            if newer:
                kv["fraction"] = used / blocks
                requests["waiting"] = 4
            for kind, value in kv.items():
                add("nv_trt_llm_kv_cache_block_metrics", {"kv_cache_block_type": kind, **base}, value, ts)
            for kind, value in requests.items():
                add("nv_trt_llm_request_metrics", {"request_type": kind, **base}, value, ts)
        for name, value in (
            ("trtllm_kv_cache_utilization", 0.25),
            ("trtllm_num_requests_running", 12),
            ("trtllm_num_requests_waiting", 3),
            ("trtllm_kv_cache_max_blocks", 10_000),
            ("trtllm_kv_cache_free_blocks", 7_500),
            ("trtllm_kv_cache_used_blocks", 2_500),
            ("trtllm_kv_cache_tokens_per_block", 32),
        ):
            add(name, SERVE, value, ts)
    with path.open("w") as out:
        for name, rows in lines.items():
            out.write(f"# TYPE {name} gauge\n")
            out.writelines(rows)
        out.write("# EOF\n")
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp(f"trtllm-{request.param}")
    with serve(request.param, exposition(work / "history.om"), work) as url:
        yield url


def settings_for(url: str, profile: str) -> Settings:
    def pool(name: str, model: str, served: str, tp: int) -> dict[str, Any]:
        selector = {"pod": f"{name}-.*"}
        return {"name": name, "model": model, "served_model_name": served, "tensor_parallel_size": tp,
                "gpu_selector": selector}  # fmt: skip

    pools = [
        pool("triton", "llama-3.1-70b", "llama-trt", 4),
        pool("triton-old", "mistral-7b", "mistral-trt", 1),
        pool("trtserve", "qwen2.5-72b", "qwen-trt", 4),
    ]
    return load_settings(pools=pools, sources=[{"name": "src", "url": url, "profiles": [profile]}])


def collect(url: str, profile: str) -> list[dict[str, Any]]:
    settings = settings_for(url, profile)
    (plan,) = plans(settings, [CollectorName.KV])
    return fetch(PromClient(url), settings, plan, *WINDOW).rows


def test_triton_new_and_old_releases(backend: str) -> None:
    rows = collect(backend, "trtllm-triton")
    new = [r for r in rows if r["pool"] == "triton"]
    old = [r for r in rows if r["pool"] == "triton-old"]
    assert len(new) == len(old) == 10 and len(rows) == 20  # the trtllm-serve pool is not Triton's
    assert {(r["engine_id"], r["kv_usage_ratio"], r["kv_capacity_tokens"]) for r in new} == {
        ("triton-0/1", 0.25, 6000 * 32)
    }
    assert {(r["requests_running"], r["requests_waiting"]) for r in new} == {(7, 4)}
    # the older release: no fraction, no waiting; usage and capacity from used, max and tokens_per
    assert {(r["engine_id"], r["kv_usage_ratio"], r["kv_capacity_tokens"]) for r in old} == {
        ("triton-old-0/3", 0.25, 4000 * 64)
    }
    assert {(r["requests_running"], r["requests_waiting"]) for r in old} == {(7, None)}
    assert new[0]["kv_bytes_per_token"] == 2 * 80 * 8 * 128 * 2  # Llama-3.1-70B, BF16: 8 KV heads over 4 GPUs


def test_trtllm_serve(backend: str) -> None:
    rows = collect(backend, "trtllm-serve")
    assert len(rows) == 10 and {r["pool"] for r in rows} == {"trtserve"}
    assert {
        (
            r["engine_id"],
            r["kv_usage_ratio"],
            r["kv_capacity_tokens"],
            r["requests_running"],
            r["requests_waiting"],
        )
        for r in rows
    } == {("trtserve-0/0", 0.25, 10_000 * 32, 12, 3)}


# ----------------------------------------------------------------------------------- on the simulator
@pytest.fixture(scope="module")
def simulated_trt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClusterSpec, str, Path]]:
    """The ``restart`` scenario's two pools, one on Triton and one on trtllm-serve (32-token blocks),
    engines dying an hour in: an hour and a half of history."""
    base = scenario("restart", seed=11)
    engines = ("triton-trtllm", "trtllm-serve")
    pools = tuple(
        dataclasses.replace(p, engine=e, block_size=32) for p, e in zip(base.pools, engines, strict=True)
    )
    spec = dataclasses.replace(base, pools=pools)
    work = tmp_path_factory.mktemp("trt-sim")
    history = generate_history(spec, T0, T0 + timedelta(minutes=90), work / "history")
    with serve("prometheus", history.openmetrics_path, work) as url:
        yield spec, url, history.truth_pool_intervals_path


def test_simulated_tensorrt_llm_pools_match_the_truth(simulated_trt: tuple[ClusterSpec, str, Path]) -> None:
    spec, url, truth_path = simulated_trt
    pools = [
        {"name": p.name, "model": p.model_key, "served_model_name": p.served_model_name,
         "tensor_parallel_size": p.gpus, "gpu_selector": {"pod": f"{p.name}-[0-9]+"}}
        for p in spec.pools
    ]  # fmt: skip
    with truth_path.open() as fh:
        truth = {
            (r["pool"], r["interval_start"]): float(r["mean_kv_usage_ratio"]) for r in csv.DictReader(fh)
        }
    end = T0 + timedelta(minutes=90)
    for pool, profile in zip(spec.pools, ("trtllm-triton", "trtllm-serve"), strict=True):
        settings = load_settings(pools=pools, sources=[{"name": "sim", "url": url, "profiles": [profile]}])
        (plan,) = plans(settings, [CollectorName.KV])
        rows = fetch(PromClient(url), settings, plan, T0, end).rows
        assert {r["pool"] for r in rows} == {pool.name}, profile  # each preset reads only its engine
        down = -(-pool.outages[0].down_seconds // 60) - 1  # intervals with no sample while it restarts
        assert len(rows) == 90 - down, pool.name
        assert {r["kv_capacity_tokens"] for r in rows} == {pool.num_gpu_blocks * 32}, pool.name
        mean = sum(r["kv_usage_ratio"] for r in rows) / len(rows)
        stamps = [r["interval_start"].isoformat().replace("+00:00", "Z") for r in rows]
        expected = sum(truth[(pool.name, t)] for t in stamps) / len(stamps)  # the same intervals' truth
        assert mean == pytest.approx(expected, rel=0.03, abs=2e-3), pool.name
        assert max(r["kv_usage_ratio"] for r in rows) > 0.05  # traffic that can show a wrong answer
