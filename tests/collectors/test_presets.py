"""Every preset profile collects its exporter's series, on Prometheus and on VictoriaMetrics.

The exposition is built here, one family per exporter, with the names, types and labels of
/work/shared/reference/telemetry-sources.md (vLLM 0.33 and V0, SGLang 0.5.23, dcgm-exporter behind a
ServiceMonitor, LiteLLM 1.110, OpenTelemetry GenAI through OTLP, the native contract), and traffic whose
right answer is known by hand. Each preset's rows are then checked against that answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attribution.collectors.profiles import plans, presets
from attribution.collectors.prom import PromClient
from attribution.collectors.run import fetch
from attribution.config import CollectorName, Settings, load_settings
from tests.support.backends import BACKENDS, serve
from tests.support.openmetrics import S0, T0, Exposition

WINDOW = (T0, T0 + timedelta(minutes=10))
SCRAPES = range(S0 - 600, S0 + 900 + 1, 15)  # from 10 minutes before the window
GROUP = "llama-group"  # the LiteLLM model group / OTel request model of the pool


# Gateway traffic: per scrape (15 s), alpha completes 1 request (1000 prompt, 200 generated, 4 s, TTFT 0.5 s);
# every other scrape, beta completes 1 (40,000 prompt, 500 generated, 20 s, TTFT 5 s).
ALPHA = {"requests": 1, "prompt": 1000, "generated": 200, "latency": 4.0, "ttft": 0.5, "every": 1}
BETA = {"requests": 1, "prompt": 40_000, "generated": 500, "latency": 20.0, "ttft": 5.0, "every": 2}


def cumulative(traffic: dict[str, Any], k: int, field: str) -> float:
    return float(traffic[field] * traffic["requests"] * (k // traffic["every"] + 1))


def build() -> Exposition:
    ex = Exposition()
    for k, ts in enumerate(SCRAPES):
        _engines(ex, ts)
        _gpus(ex, ts)
        for team, traffic in (("alpha", ALPHA), ("beta", BETA)):
            _litellm(ex, ts, k, team, traffic)
            _otel(ex, ts, k, team, traffic)
        _native(ex, ts, k)
    return ex


def _engines(ex: Exposition, ts: int) -> None:
    # SGLang: two TP ranks of one engine; a second engine on dp_rank 1
    for dp in ("0", "1"):
        for tp in ("0", "1"):
            labels = {"model_name": "sg-model", "engine_type": "unified", "tp_rank": tp, "pp_rank": "0"}
            labels |= {"moe_ep_rank": "0", "dp_rank": dp, "pod": "sglang-0", "namespace": "llm"}
            usage = 0.25 if dp == "0" else 0.5
            ex.add("sglang:token_usage", "gauge", "sglang:token_usage", labels, usage + 0.01 * int(tp), ts)
            ex.add("sglang:max_total_num_tokens", "gauge", "sglang:max_total_num_tokens", labels, 400_000, ts)
            ex.add("sglang:num_running_reqs", "gauge", "sglang:num_running_reqs", labels, 12, ts)
            ex.add("sglang:num_queue_reqs", "gauge", "sglang:num_queue_reqs", labels, 3, ts)
    # vLLM V0 (<= 0.5): the old gauge only, no engine label, config as an Info
    old = {"model_name": "v0-model", "pod": "vllm-old-0"}
    ex.add("vllm:gpu_cache_usage_perc", "gauge", "vllm:gpu_cache_usage_perc", old, 0.4, ts)
    info = {"block_size": "16", "num_gpu_blocks": "20000", "cache_dtype": "fp8", "pod": "vllm-old-0"}
    ex.add("vllm:cache_config_info", "gauge", "vllm:cache_config_info", info, 1, ts)
    # vLLM 0.10: both names for the same engine; 0.33 config with kv_cache_size_tokens
    mid = {"model_name": "v10-model", "engine": "0", "pod": "vllm-mid-0"}
    ex.add("vllm:gpu_cache_usage_perc", "gauge", "vllm:gpu_cache_usage_perc", mid, 0.3, ts)
    ex.add("vllm:kv_cache_usage_perc", "gauge", "vllm:kv_cache_usage_perc", mid, 0.3, ts)
    ex.add("vllm:num_requests_running", "gauge", "vllm:num_requests_running", mid, 5, ts)
    info = {"engine": "0", "block_size": "16", "num_gpu_blocks": "9999", "kv_cache_size_tokens": "150000"}
    ex.add("vllm:cache_config_info", "gauge", "vllm:cache_config_info", info | {"pod": "vllm-mid-0"}, 1, ts)
    # vLLM 0.33 serving DeepSeek-R1 with the FlashMLA FP8 cache: blocks x block size (64 x 1000) is not
    # the capacity, kv_cache_size_tokens is (vllm issue #51163)
    ds = {"model_name": "deepseek-ai/DeepSeek-R1", "engine": "0", "pod": "vllm-ds-0"}
    ex.add("vllm:kv_cache_usage_perc", "gauge", "vllm:kv_cache_usage_perc", ds, 0.2, ts)
    info = {"engine": "0", "block_size": "64", "num_gpu_blocks": "1000", "cache_dtype": "fp8_ds_mla"}
    info |= {"kv_cache_size_tokens": "1048576", "pod": "vllm-ds-0"}
    ex.add("vllm:cache_config_info", "gauge", "vllm:cache_config_info", info, 1, ts)


def _gpus(ex: Exposition, ts: int) -> None:
    # dcgm-exporter after 4.5.3-4.8.2 (lower-case hostname), --use-old-namespace (uuid), scraped by a
    # ServiceMonitor with honorLabels false (exported_pod, exported_namespace)
    labels = {"gpu": "0", "uuid": "GPU-aaaa", "modelName": "NVIDIA H100 80GB HBM3", "hostname": "node-7"}
    labels |= {"exported_pod": "sglang-0", "exported_namespace": "llm", "pod": "dcgm-exporter-x"}
    ex.add("DCGM_FI_DEV_FB_USED", "gauge", "DCGM_FI_DEV_FB_USED", labels, 70_000, ts)
    ex.add("DCGM_FI_DEV_FB_FREE", "gauge", "DCGM_FI_DEV_FB_FREE", labels, 11_000, ts)
    ex.add("DCGM_FI_DEV_GPU_UTIL", "gauge", "DCGM_FI_DEV_GPU_UTIL", labels, 40 + (ts // 15) % 2 * 20, ts)
    # an L40S whose exporter also reports FB_RESERVED: its memory is the sum of the three
    l40s = {"gpu": "1", "uuid": "GPU-bbbb", "modelName": "NVIDIA L40S", "hostname": "node-8"}
    for name, mib in (("USED", 40_000), ("FREE", 5_500), ("RESERVED", 568)):
        ex.add(f"DCGM_FI_DEV_FB_{name}", "gauge", f"DCGM_FI_DEV_FB_{name}", l40s, mib, ts)


def _litellm(ex: Exposition, ts: int, k: int, team: str, traffic: dict[str, Any]) -> None:
    who = {"team": f"{team}-id", "team_alias": team, "requested_model": GROUP, "end_user": "", "user": "u"}
    tokens = who | {"model": f"hosted_vllm/{GROUP}", "api_key_alias": "key", "hashed_api_key": "ab12"}
    for name, field in (("input", "prompt"), ("output", "generated")):
        family = f"litellm_{name}_tokens_metric"
        ex.add(family, "counter", f"{family}_total", tokens, cumulative(traffic, k, field), ts)
    ok, failed = who | {"status_code": "200", "route": "/chat/completions"}, who | {"status_code": "500"}
    requests = cumulative(traffic, k, "requests")
    ex.add(
        "litellm_proxy_total_requests_metric",
        "counter",
        "litellm_proxy_total_requests_metric_total",
        ok,
        requests,
        ts,
    )
    ex.add(
        "litellm_proxy_total_requests_metric",
        "counter",
        "litellm_proxy_total_requests_metric_total",
        failed,
        k,
        ts,
    )
    # the proxy's total latency also holds time spent at the proxy (here 60 s a request): not used
    for family, field, extra in (
        ("litellm_request_total_latency_metric", "latency", 60.0),
        ("litellm_llm_api_latency_metric", "latency", 0.0),
        ("litellm_llm_api_time_to_first_token_metric", "ttft", 0.0),
    ):
        labels = tokens | {"model_group": GROUP}
        ex.add(family, "histogram", f"{family}_sum", labels, (traffic[field] + extra) * requests, ts)
        ex.add(family, "histogram", f"{family}_count", labels, requests, ts)
        ex.add(family, "histogram", f"{family}_bucket", labels | {"le": "+Inf"}, requests, ts)
    # a series folded by LiteLLM's series limit: every label "other"; usage of an unknown tenant
    other = dict.fromkeys(tokens, "other")
    ex.add(
        "litellm_input_tokens_metric", "counter", "litellm_input_tokens_metric_total", other, 7 * (k + 1), ts
    )


def _otel(ex: Exposition, ts: int, k: int, team: str, traffic: dict[str, Any]) -> None:
    base = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": GROUP}
    base |= {"tenant_id": team, "otel_scope_name": "envoyproxy/ai-gateway"}
    requests = cumulative(traffic, k, "requests")
    family = "gen_ai_client_token_usage"
    for kind, field in (("input", "prompt"), ("output", "generated")):
        labels = base | {"gen_ai_token_type": kind}
        ex.add(family, "histogram", f"{family}_sum", labels, cumulative(traffic, k, field), ts)
        ex.add(family, "histogram", f"{family}_count", labels, requests, ts)
        ex.add(family, "histogram", f"{family}_bucket", labels | {"le": "+Inf"}, requests, ts)
    for family, field in (
        ("gen_ai_server_request_duration_seconds", "latency"),
        ("gen_ai_server_time_to_first_token_seconds", "ttft"),
    ):
        ex.add(family, "histogram", f"{family}_sum", base, traffic[field] * requests, ts)
        ex.add(family, "histogram", f"{family}_count", base, requests, ts)
        ex.add(family, "histogram", f"{family}_bucket", base | {"le": "+Inf"}, requests, ts)
    # failed requests are observed too, apart: they must not enter the estimate (they hold no tokens)
    failed, family = base | {"error_type": "_OTHER"}, "gen_ai_server_request_duration_seconds"
    ex.add(family, "histogram", f"{family}_sum", failed, 300.0 * (k + 1), ts)
    ex.add(family, "histogram", f"{family}_count", failed, k + 1, ts)


def _native(ex: Exposition, ts: int, k: int) -> None:
    labels = {"team": "gamma", "model": "native-model", "tier": "4k-32k"}
    for name, per in (
        ("requests", 1),
        ("prompt_tokens", 5000),
        ("generation_tokens", 100),
        ("kv_token_seconds", 9000.5),
    ):
        family = f"llm_tenant_{name}"
        ex.add(family, "counter", f"{family}_total", labels, per * (k + 1), ts)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp(f"presets-{request.param}")
    with serve(request.param, build().write(work / "history.om"), work) as url:
        yield url


def pool(name: str, model: str, served: str, tp: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "model": model, "served_model_name": served, "tensor_parallel_size": tp, **extra}


def settings_for(url: str, profiles: list[str], **extra: Any) -> Settings:
    pools = [
        pool("sg", "llama-3.1-8b", "sg-model", 2, gpu_selector={"pod": "sglang-.*", "namespace": "llm"}),
        pool("old", "mistral-7b", "v0-model", gpu_selector={"pod": "vllm-old-.*"}),
        pool("mid", "mistral-7b", "v10-model", gpu_selector={"pod": "vllm-mid-.*"}),
        pool("ds", "deepseek-r1", "deepseek-ai/DeepSeek-R1", 8, gpu_selector={"pod": "vllm-ds-.*"}),
        pool(
            "llama",
            "llama-3.1-70b",
            "meta-llama/Llama-3.1-70B",
            4,
            gpu_selector={"pod": "llama-.*"},
            model_aliases=[GROUP],
        ),
        pool("native", "mistral-small-24b", "native-model", gpu_selector={"pod": "native-.*"}),
    ]
    values: dict[str, Any] = {"pools": pools, "sources": [{"name": "src", "url": url, "profiles": profiles}]}
    return load_settings(**(values | extra))


def collect(settings: Settings, url: str, collector: CollectorName) -> Any:
    (plan,) = plans(settings, [collector])
    return fetch(PromClient(url), settings, plan, *WINDOW)


def minutes(rows: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def test_the_presets_are_the_documented_ones() -> None:
    assert sorted(presets()) == [
        "dcgm",
        "litellm",
        "native",
        "otel-genai",
        "otel-genai-client",
        "sglang",
        "trtllm-serve",
        "trtllm-triton",
        "vllm",
    ]


def test_sglang_ranks_make_one_engine_per_dp_rank(backend: str) -> None:
    batch = collect(settings_for(backend, ["sglang"]), backend, CollectorName.KV)
    assert {r["engine_id"] for r in batch.rows} == {"sglang-0/0", "sglang-0/1"}
    assert len(batch.rows) == 20
    for r in minutes(batch.rows, engine_id="sglang-0/0"):
        assert r["kv_usage_ratio"] == pytest.approx(0.255)  # the mean of the ranks
        assert (r["kv_capacity_tokens"], r["requests_running"], r["requests_waiting"]) == (400_000, 12, 3)
        assert r["kv_bytes_per_token"] == 2 * 32 * 8 * 128 * 2  # Llama-3.1-8B: 4 KV heads on each of 2 GPUs
    assert all(
        r["kv_usage_ratio"] == pytest.approx(0.505) for r in minutes(batch.rows, engine_id="sglang-0/1")
    )


def test_vllm_v0_and_the_renamed_gauge(backend: str) -> None:
    batch = collect(settings_for(backend, ["vllm"]), backend, CollectorName.KV)
    old, mid = minutes(batch.rows, pool="old"), minutes(batch.rows, pool="mid")
    assert len(old) == len(mid) == 10  # both names for one engine: one row, not two, not an error
    assert {(r["engine_id"], r["kv_usage_ratio"], r["kv_capacity_tokens"]) for r in old} == {
        ("vllm-old-0/0", 0.4, 320_000)
    }
    assert old[0]["kv_bytes_per_token"] == 2 * 32 * 8 * 128 * 1  # fp8 KV from cache_config_info
    assert {(r["engine_id"], r["kv_usage_ratio"], r["kv_capacity_tokens"]) for r in mid} == {
        ("vllm-mid-0/0", 0.3, 150_000)
    }
    assert {r["requests_running"] for r in mid} == {5.0}


def test_vllm_deepseek_fp8_ds_mla_capacity_is_kv_cache_size_tokens(backend: str) -> None:
    rows = minutes(collect(settings_for(backend, ["vllm"]), backend, CollectorName.KV).rows, pool="ds")
    assert len(rows) == 10
    assert {r["kv_capacity_tokens"] for r in rows} == {1_048_576}  # not 64 x 1000
    # fp8_ds_mla: (512 FP8 + 16 B of scales + 64 x 2 B RoPE) x 61 layers, one latent on each of 8 ranks
    assert {r["kv_bytes_per_token"] for r in rows} == {656 * 61 * 8}


def test_dcgm_behind_a_service_monitor(backend: str) -> None:
    batch = collect(settings_for(backend, ["dcgm"]), backend, CollectorName.GPU)
    assert len(batch.rows) == 20
    row = next(r for r in batch.rows if r["gpu_uuid"] == "GPU-aaaa")
    assert (row["gpu_uuid"], row["hostname"], row["pool"], row["gpu_type"]) == (
        "GPU-aaaa",
        "node-7",
        "sg",
        "H100-SXM",
    )
    assert (row["fb_used_bytes"], row["fb_free_bytes"]) == (70_000 * 2**20, 11_000 * 2**20)
    assert row["fb_reserved_bytes"] is None  # an exporter without FB_RESERVED: the catalog total is used
    assert row["gpu_util_percent"] == pytest.approx(50.0)
    (l40s,) = [r for r in batch.rows if r["gpu_uuid"] == "GPU-bbbb"][:1]
    assert (l40s["gpu_type"], l40s["pool"]) == ("L40S", None)
    assert l40s["fb_used_bytes"] + l40s["fb_free_bytes"] + l40s["fb_reserved_bytes"] == 46_068 * 2**20


@pytest.mark.parametrize("profile", ["litellm", "otel-genai"])
def test_gateways_without_residency_are_estimated_from_tokens_and_latency(backend: str, profile: str) -> None:
    settings = settings_for(backend, [profile])
    batch = collect(settings, backend, CollectorName.GATEWAY)
    alpha = minutes(batch.rows, tenant="alpha", pool="llama")
    beta = minutes(batch.rows, tenant="beta", pool="llama")
    assert len(alpha) == len(beta) == 10
    for r in alpha:  # 4 requests a minute: P = 4000, G = 800, L = 4 s, F = 0.5 s: P (L - F/2) + G (L - F)/2
        assert (r["tier"], r["requests"], r["prompt_tokens"], r["generation_tokens"]) == (
            "0-4k",
            4,
            4000,
            800,
        )
        assert r["kv_token_seconds"] == pytest.approx(4000 * (4 - 0.5 / 2) + 800 * (4 - 0.5) / 2)
    for r in beta:  # 2 requests a minute of 40,500 tokens: the 32k-128k tier
        assert (r["tier"], r["requests"], r["prompt_tokens"], r["generation_tokens"]) == (
            "32k-128k",
            2,
            80_000,
            1000,
        )
        assert r["kv_token_seconds"] == pytest.approx(80_000 * (20 - 5 / 2) + 1000 * (20 - 5) / 2)
    assert batch.estimated == set(batch.series)  # every interval with data is marked estimated
    if profile == "litellm":  # failed requests are not counted; folded series are nobody's in particular
        folded = minutes(batch.rows, tenant="__unallocated__")
        assert folded and all(r["prompt_tokens"] == 28 and r["pool"] == "__unmapped__" for r in folded)


def test_native_contract_with_a_configured_tenant_label(backend: str) -> None:
    settings = settings_for(backend, ["native"], tenants={"label": "team"})
    batch = collect(settings, backend, CollectorName.GATEWAY)
    assert len(batch.rows) == 10 and not batch.estimated
    for r in batch.rows:
        assert (r["pool"], r["tenant"], r["tier"], r["requests"], r["prompt_tokens"]) == (
            "native",
            "gamma",
            "4k-32k",
            4,
            20_000,
        )
        assert r["kv_token_seconds"] == pytest.approx(4 * 9000.5)


def test_a_source_may_override_the_profile_s_labels(backend: str) -> None:
    source = {
        "name": "src",
        "url": backend,
        "profiles": ["litellm"],
        "labels": {"tenant": ["hashed_api_key"]},
    }
    settings = settings_for(backend, ["litellm"], sources=[source])
    batch = collect(settings, backend, CollectorName.GATEWAY)
    assert {r["tenant"] for r in batch.rows} == {"ab12", "__unallocated__"}


CUSTOM = """
[[pools]]
name = "llama"
model = "llama-3.1-70b"
served_model_name = "meta-llama/Llama-3.1-70B"
model_aliases = ["llama-group"]
gpu_selector = {pod = "llama-.*"}

[[sources]]
name = "gateway-prom"
url = "http://prometheus.monitoring:9090"
profiles = ["dcgm", "vllm", "my-gateway"]
accept_warnings = ["^PromQL info:"]

[sources.labels]
tenant = ["api_key_alias"]

[profiles.my-gateway]
collector = "gateway"
description = "LiteLLM, with the proxy's own latency"

[profiles.my-gateway.signals]
requests = 'litellm_proxy_total_requests_metric_total{status_code=~"2.."}'
prompt_tokens = "litellm_input_tokens_metric_total"
generation_tokens = "litellm_output_tokens_metric_total"
latency_seconds_sum = "litellm_request_total_latency_metric_sum"
latency_seconds_count = "litellm_request_total_latency_metric_count"

[profiles.my-gateway.labels]
model = ["requested_model"]
"""


def test_a_custom_profile_in_toml_feeds_its_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "attribution.toml").write_text(CUSTOM)
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(tmp_path / "attribution.toml"))
    settings = load_settings()
    by_collector = {p.collector: p for p in plans(settings)}
    gateway = by_collector[CollectorName.GATEWAY]
    assert (gateway.profile_name, gateway.source.name) == ("my-gateway", "gateway-prom")
    assert gateway.labels.tenant == ("api_key_alias",)  # the source's override
    assert gateway.labels.model == ("requested_model",)  # the profile's
    assert gateway.query("latency_seconds_sum", 60) == "litellm_request_total_latency_metric_sum"
    assert by_collector[CollectorName.KV].query("requests_running", 60) == (
        "avg_over_time(vllm:num_requests_running[59999ms])"
    )


@pytest.mark.parametrize(
    ("signals", "message"),
    [
        ({"requests": "x_total", "prompt_tokens": "y_total"}, "lacks generation_tokens"),
        (
            {
                "requests": "a",
                "prompt_tokens": "b",
                "generation_tokens": "c",
                "kv_token_seconds": "d",
                "x": "e",
            },
            "unknown signals x",
        ),
        (
            {
                "requests": "rate(a[1m])",
                "prompt_tokens": "b",
                "generation_tokens": "c",
                "kv_token_seconds": "d",
            },
            "plain selector",
        ),
        ({"requests": "a", "prompt_tokens": "b", "generation_tokens": "c"}, "estimator needs latency"),
    ],
)
def test_a_bad_profile_is_refused_with_its_reason(signals: dict[str, str], message: str) -> None:
    from attribution.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_settings(profiles={"bad": {"collector": "gateway", "signals": signals}})


def test_a_source_naming_an_unknown_profile_or_two_per_collector_is_refused() -> None:
    from attribution.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown source profile 'nope'"):
        plans(load_settings(sources=[{"name": "s", "url": "http://x", "profiles": ["nope"]}]))
    with pytest.raises(ConfigError, match="'native' and 'litellm' both feed the gateway collector"):
        plans(load_settings(sources=[{"name": "s", "url": "http://x", "profiles": ["native", "litellm"]}]))


def test_without_sources_the_old_keys_mean_one_default_source() -> None:
    settings = load_settings(prometheus_url="http://prom:9090", prometheus_timeout_seconds=7)
    ((source),) = settings.effective_sources()
    assert (source.name, source.url, source.timeout_seconds) == ("prometheus", "http://prom:9090", 7)
    assert [p.profile_name for p in plans(settings)] == ["dcgm", "vllm", "native"]


def test_docs_list_every_preset_query_verbatim() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "collectors.md").read_text()
    for name, profile in presets().items():
        assert f"### `{name}`" in docs, name
        for signal, query in profile.signals.items():
            assert f"| `{signal}` | `{query}` |" in docs, (name, signal)


def test_a_gpu_two_pool_selectors_match_is_a_configuration_error() -> None:
    """``llama-8b-.*`` also matches a ``llama-8b-batch`` deployment's pods: refuse, never misbill."""
    from attribution.collectors.labels import pool_for_gpu
    from attribution.errors import ConfigError

    settings = load_settings(
        pools=[
            pool("llama-8b", "llama-3.1-8b", "m1", gpu_selector={"pod": "llama-8b-.*"}),
            pool("llama-8b-batch", "llama-3.1-8b", "m2", gpu_selector={"pod": "llama-8b-batch-.*"}),
        ]
    )
    assert pool_for_gpu(settings, {"pod": "llama-8b-5f7d9-abcde"}).name == "llama-8b"  # type: ignore[union-attr]
    assert pool_for_gpu(settings, {"pod": "other-0"}) is None
    with pytest.raises(ConfigError, match="pools llama-8b, llama-8b-batch"):
        pool_for_gpu(settings, {"pod": "llama-8b-batch-6c8d4-fghij"})
