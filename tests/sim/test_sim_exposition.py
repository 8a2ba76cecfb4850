"""The exposition speaks the exporters' language: names, types, labels, buckets and value ranges.

EXPECTED is written from /work/shared/reference/telemetry-sources.md, not from the simulator's constants:
vLLM 0.33.0 (sections 1.2-1.5), SGLang 0.5.23 (section 2), dcgm-exporter (section 3, ``Hostname`` up to
4.5.3-4.8.2 and ``hostname`` after), LiteLLM 1.110.2 (section 4.1, label lists of ``PrometheusMetricLabels``
plus ``org_id``/``org_alias``), OpenTelemetry GenAI through an OTel collector (section 4.2/4.3, Envoy AI
Gateway's tenant header as ``tenant_id``) and the native contract (docs/gateway-contract.md).
"""

from __future__ import annotations

import numpy as np

from attribution.catalog import get_gpu
from tests.sim.omparse import Labels, ParsedFamily
from tests.support.sim_history import SCRAPE_INTERVAL_SECONDS, History

F = frozenset
SCRAPE = F({"job", "instance", "namespace", "pod"})
VLLM = SCRAPE | {"model_name", "engine"}
CACHE_CONFIG = SCRAPE | {
    "engine", "block_size", "num_gpu_blocks", "cache_dtype", "gpu_memory_utilization",
    "enable_prefix_caching", "kv_cache_size_tokens", "num_cpu_blocks",
}  # fmt: skip
SGLANG_SCHEDULER = SCRAPE | {"model_name", "engine_type", "tp_rank", "pp_rank", "moe_ep_rank"}
SGLANG_TOKENIZER = SCRAPE | {"model_name", "engine_type", "is_streaming"}
DCGM = F({"job", "instance", "gpu", "UUID", "pci_bus_id", "device", "modelName", "DCGM_FI_DRIVER_VERSION"})
K8S = F({"namespace", "pod", "container"})
IDENTITY = F(
    {"end_user", "hashed_api_key", "api_key_alias", "team", "team_alias", "user", "org_id", "org_alias"}
)
LITELLM_TOTAL = SCRAPE | IDENTITY | {
    "requested_model", "status_code", "user_email", "route", "client_ip", "user_agent", "model_id",
    "api_provider",
}  # fmt: skip
LITELLM_FAILED = (LITELLM_TOTAL - {"status_code"}) | {"exception_status", "exception_class"}
LITELLM_TOKENS = SCRAPE | IDENTITY | {"model", "user_email", "requested_model", "model_id", "api_provider"}
LITELLM_LATENCY = SCRAPE | IDENTITY | {"model_group", "requested_model", "model", "model_id", "api_provider",
                                       "service_tier"}  # fmt: skip
GEN_AI = SCRAPE | {
    "gen_ai_operation_name", "gen_ai_original_model", "gen_ai_provider_name", "gen_ai_request_model",
    "gen_ai_response_model", "otel_scope_name", "tenant_id",
}  # fmt: skip

VLLM_FAMILIES: dict[str, tuple[str, set[frozenset[str]]]] = {
    "vllm:num_requests_running": ("gauge", {VLLM}),
    "vllm:num_requests_waiting": ("gauge", {VLLM}),
    "vllm:num_requests_waiting_by_reason": ("gauge", {VLLM | {"reason"}}),
    "vllm:kv_cache_usage_perc": ("gauge", {VLLM}),
    "vllm:cache_config_info": ("gauge", {CACHE_CONFIG}),
    "vllm:num_preemptions": ("counter", {VLLM}),
    "vllm:prompt_tokens": ("counter", {VLLM}),
    "vllm:generation_tokens": ("counter", {VLLM}),
    "vllm:request_success": ("counter", {VLLM | {"finished_reason"}}),
    **{
        name: ("histogram", {VLLM})
        for name in (
            "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
            "vllm:request_inference_time_seconds", "vllm:request_prefill_time_seconds",
            "vllm:request_decode_time_seconds", "vllm:request_prompt_tokens",
            "vllm:request_generation_tokens",
            "vllm:request_num_preemptions", "vllm:time_to_first_token_seconds",
        )
    },
}  # fmt: skip
SGLANG_FAMILIES: dict[str, tuple[str, set[frozenset[str]]]] = {
    "sglang:num_running_reqs": ("gauge", {SGLANG_SCHEDULER}),
    "sglang:num_queue_reqs": ("gauge", {SGLANG_SCHEDULER}),
    "sglang:token_usage": ("gauge", {SGLANG_SCHEDULER}),
    "sglang:num_used_tokens": ("gauge", {SGLANG_SCHEDULER}),
    "sglang:max_total_num_tokens": ("gauge", {SGLANG_SCHEDULER}),
    "sglang:prompt_tokens": ("counter", {SGLANG_TOKENIZER}),
    "sglang:generation_tokens": ("counter", {SGLANG_TOKENIZER}),
    "sglang:num_requests": ("counter", {SGLANG_TOKENIZER}),
    "sglang:num_retracted_requests": ("counter", {SGLANG_SCHEDULER}),
    "sglang:time_to_first_token_seconds": ("histogram", {SGLANG_TOKENIZER}),
    "sglang:e2e_request_latency_seconds": ("histogram", {SGLANG_TOKENIZER}),
    "sglang:queue_time_seconds": ("histogram", {SGLANG_SCHEDULER}),
}
DCGM_GAUGES = (
    "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED", "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "DCGM_FI_PROF_DRAM_ACTIVE",
)  # fmt: skip


def dcgm_families(host_label: str) -> dict[str, tuple[str, set[frozenset[str]]]]:
    idle = DCGM | {host_label}
    return {name: ("gauge", {idle, idle | K8S}) for name in DCGM_GAUGES}


NATIVE_FAMILIES: dict[str, tuple[str, set[frozenset[str]]]] = {
    "llm_tenant_requests": ("counter", {SCRAPE | {"tenant", "model", "tier"}}),
    "llm_tenant_prompt_tokens": ("counter", {SCRAPE | {"tenant", "model", "tier"}}),
    "llm_tenant_generation_tokens": ("counter", {SCRAPE | {"tenant", "model", "tier"}}),
    "llm_tenant_kv_token_seconds": ("counter", {SCRAPE | {"tenant", "model", "tier"}}),
    "llm_tenant_request_context_tokens": ("histogram", {SCRAPE | {"tenant", "model"}}),
}
LITELLM_FAMILIES: dict[str, tuple[str, set[frozenset[str]]]] = {
    "litellm_proxy_total_requests_metric": ("counter", {LITELLM_TOTAL}),
    "litellm_proxy_failed_requests_metric": ("counter", {LITELLM_FAILED}),
    "litellm_input_tokens_metric": ("counter", {LITELLM_TOKENS}),
    "litellm_output_tokens_metric": ("counter", {LITELLM_TOKENS}),
    "litellm_total_tokens_metric": ("counter", {LITELLM_TOKENS}),
    "litellm_request_total_latency_metric": ("histogram", {LITELLM_LATENCY}),
    "litellm_llm_api_latency_metric": ("histogram", {LITELLM_LATENCY}),
    "litellm_llm_api_time_to_first_token_metric": ("histogram", {LITELLM_LATENCY}),
}
OTEL_FAMILIES: dict[str, tuple[str, set[frozenset[str]]]] = {
    "gen_ai_client_token_usage": ("histogram", {GEN_AI | {"gen_ai_token_type"}}),
    "gen_ai_server_request_duration_seconds": ("histogram", {GEN_AI, GEN_AI | {"error_type"}}),
    "gen_ai_server_time_to_first_token_seconds": ("histogram", {GEN_AI}),
    "gen_ai_server_time_per_output_token_seconds": ("histogram", {GEN_AI}),
}


def _main_suffix(family: ParsedFamily) -> str:
    return {"counter": "_total", "gauge": "", "histogram": "_count"}[family.kind]


def _check(families: dict[str, ParsedFamily], expected: dict[str, tuple[str, set[frozenset[str]]]]) -> None:
    """Every family is expected and every expected family is there, with its type and label names."""
    assert set(families) == set(expected), set(families) ^ set(expected)
    for name, (kind, label_sets) in expected.items():
        family = families[name]
        assert family.kind == kind, name
        assert family.help, name
        seen = family.label_names(_main_suffix(family))
        assert seen and seen <= label_sets, (name, seen)
        if kind == "histogram":
            assert family.label_names("_bucket") == {labels | {"le"} for labels in seen}, name
            assert family.label_names("_sum") == seen, name


def test_demo_families_are_vllm_dcgm_and_native_as_the_references_name_them(history: History) -> None:
    _check(history.families, {**VLLM_FAMILIES, **dcgm_families("Hostname"), **NATIVE_FAMILIES})


def test_every_exporter_of_the_mixed_scenario_matches_its_reference(mixed: History) -> None:
    _check(
        mixed.families,
        {
            **VLLM_FAMILIES,
            **SGLANG_FAMILIES,
            **dcgm_families("hostname"),
            **NATIVE_FAMILIES,
            **{k: v for k, v in LITELLM_FAMILIES.items() if k != "litellm_proxy_failed_requests_metric"},
            **OTEL_FAMILIES,
        },
    )
    # LiteLLM writes unset identity labels as the string "None" (prometheus_client's str(None)).
    for labels in mixed.values("litellm_input_tokens_metric", "_total"):
        label = dict(labels)
        assert label["end_user"] == label["user_email"] == label["org_id"] == "None"
        assert label["api_key_alias"] == f"{label['team_alias']}-key" and len(label["hashed_api_key"]) == 64


def _les(history: History, name: str, **match: str) -> list[str]:
    return sorted(
        {
            dict(labels)["le"]
            for (sample, labels), _ in history.families[name].series.items()
            if sample.endswith("_bucket") and match.items() <= dict(labels).items()
        },
        key=float,
    )


def test_bucket_bounds_and_their_spelling_are_each_exporters_own(history: History, mixed: History) -> None:
    """prometheus_client spells ``le`` like 1.0 and 1e+06; client_golang like 1 and 1.048576e+06."""
    llama = "meta-llama/Llama-3.1-405B-Instruct-FP8"
    tokens_128k = ["1.0", "2.0", "5.0", "10.0", "20.0", "50.0", "100.0", "200.0", "500.0", "1000.0", "2000.0",
                   "5000.0", "10000.0", "20000.0", "50000.0", "100000.0", "+Inf"]  # fmt: skip
    assert _les(history, "vllm:request_prompt_tokens", model_name=llama) == tokens_128k
    mistral = "mistralai/Mistral-Small-24B-Instruct-2501"
    assert _les(history, "vllm:request_prompt_tokens", model_name=mistral)[-2:] == ["20000.0", "+Inf"]
    latency = _les(history, "vllm:e2e_request_latency_seconds")
    assert latency[:3] == ["0.3", "0.5", "0.8"] and latency[-3:] == ["1920.0", "7680.0", "+Inf"]
    ttft = _les(history, "vllm:time_to_first_token_seconds")
    assert len(ttft) == 23 and ttft[0] == "0.001" and ttft[-2] == "2560.0"
    litellm = _les(mixed, "litellm_request_total_latency_metric")
    assert litellm[:2] == ["0.005", "0.01"] and litellm[-4:] == ["300.0", "420.0", "600.0", "+Inf"]
    usage = _les(mixed, "gen_ai_client_token_usage")
    assert usage[:3] == ["1", "4", "16"] and "262144" in usage and "1.048576e+06" in usage
    assert usage[-2:] == ["6.7108864e+07", "+Inf"]
    duration = _les(mixed, "gen_ai_server_request_duration_seconds")
    assert duration[0] == "0.01" and duration[-2] == "81.92"
    assert _les(mixed, "gen_ai_server_time_to_first_token_seconds")[-2] == "60"
    assert _les(mixed, "sglang:queue_time_seconds")[:2] == ["0.0", "0.001"]
    assert _les(mixed, "sglang:time_to_first_token_seconds")[-2:] == ["400.0", "+Inf"]


def test_scrapes_are_on_the_grid(history: History) -> None:
    start = int(history.start.timestamp())
    expected = list(range(start, start + 3 * 3600, SCRAPE_INTERVAL_SECONDS))
    for family in history.families.values():
        for (sample, _), points in family.series.items():
            stamps = [t for t, _ in points]
            assert stamps == expected[len(expected) - len(stamps) :], sample
            if not sample.startswith("llm_tenant"):
                assert stamps == expected, sample


def test_counters_never_decrease_across_chunks(history: History, mixed: History) -> None:
    """Three one-hour chunks: a carried counter must not step back by even an ulp at a chunk boundary
    (a reset-aware collector would bill that as a reset)."""
    for h in (history, mixed):
        for family in h.families.values():
            if family.kind == "gauge":
                continue
            for (sample, _), points in family.series.items():
                values = np.array([v for _, v in points])
                assert np.all(np.diff(values) >= 0), sample
                assert values.min() >= 0, sample


def test_histograms_are_cumulative_with_count_equal_to_inf(history: History, mixed: History) -> None:
    for h in (history, mixed):
        for family in h.families.values():
            if family.kind != "histogram":
                continue
            buckets: dict[Labels, list[tuple[float, np.ndarray]]] = {}
            for (sample, labels), points in family.series.items():
                if sample.endswith("_bucket"):
                    base = tuple(kv for kv in labels if kv[0] != "le")
                    le = float(dict(labels)["le"])
                    buckets.setdefault(base, []).append((le, np.array([v for _, v in points])))
            counts = h.values(family.name, "_count")
            for base, columns in buckets.items():
                ordered = sorted(columns, key=lambda c: c[0])
                assert ordered[-1][0] == float("inf")
                stacked = np.vstack([values for _, values in ordered])
                assert np.all(np.diff(stacked, axis=0) >= 0), family.name
                assert np.array_equal(stacked[-1], counts[base]), family.name


def test_kv_usage_is_a_fraction_of_whole_blocks(history: History) -> None:
    by_pool = {pool.served_model_name: pool for pool in history.spec.pools}
    for labels, usage in history.values("vllm:kv_cache_usage_perc").items():
        pool = by_pool[dict(labels)["model_name"]]
        assert usage.min() >= 0.0 and usage.max() <= 1.0
        blocks = usage * (pool.num_gpu_blocks - 1)
        assert np.allclose(blocks, np.rint(blocks), atol=1e-6)
        assert usage.max() > 0.0


def test_cache_config_info_matches_the_pool_geometry(history: History) -> None:
    rows = {dict(labels)["pod"]: dict(labels) for labels in history.values("vllm:cache_config_info")}
    for pool in history.spec.pools:
        row = rows[f"{pool.name}-0"]
        assert int(row["num_gpu_blocks"]) == pool.num_gpu_blocks
        assert int(row["kv_cache_size_tokens"]) == pool.num_gpu_blocks * pool.block_size
        assert row["cache_dtype"] == pool.cache_dtype
        assert row["num_cpu_blocks"] == "None" and row["enable_prefix_caching"] == "True"


def test_sglang_reports_capacity_in_tokens_and_usage_as_their_fraction(mixed: History) -> None:
    pool = next(p for p in mixed.spec.pools if p.engine == "sglang")
    (capacity,) = mixed.values("sglang:max_total_num_tokens").values()
    (used,) = mixed.values("sglang:num_used_tokens").values()
    (usage,) = mixed.values("sglang:token_usage").values()
    assert np.all(capacity == pool.kv_capacity_tokens)
    assert np.allclose(usage, used / capacity) and 0 < usage.max() <= 1


def test_dcgm_framebuffer_sums_to_the_catalog_total_and_pods_map_gpus(history: History) -> None:
    free = history.values("DCGM_FI_DEV_FB_FREE")
    reserved = history.values("DCGM_FI_DEV_FB_RESERVED")
    pods: dict[str, int] = {}
    hosts: dict[str, set[str]] = {}
    for labels, used in history.values("DCGM_FI_DEV_FB_USED").items():
        label = dict(labels)
        total = [g for g in ("H100-SXM", "H200-SXM") if get_gpu(g).dcgm_model_name == label["modelName"]]
        assert np.all(used + free[labels] + reserved[labels] == get_gpu(total[0]).fb_total_mib)
        hosts.setdefault(label["Hostname"], set()).add(label.get("pod", "-"))
        if "pod" in label:
            pods[label["pod"]] = pods.get(label["pod"], 0) + 1
            assert used.min() > 0.9 * get_gpu(total[0]).fb_total_mib
        else:
            assert used.max() < 100
    assert pods == {f"{p.name}-0": p.gpus for p in history.spec.pools}
    assert hosts == {"gpu-node-01": {"mistral-small-24b-0", "-"}, "gpu-node-02": {"llama-405b-0"}}


def test_dcgm_activity_stays_in_range_and_follows_load(history: History) -> None:
    for labels, util in history.values("DCGM_FI_DEV_GPU_UTIL").items():
        assert util.min() >= 0 and util.max() <= 100
        assert (util.max() > 0) == ("pod" in dict(labels))
    for name in (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "DCGM_FI_PROF_DRAM_ACTIVE",
    ):
        for values in history.values(name).values():
            assert values.min() >= 0.0 and values.max() <= 1.0
    for values in history.values("DCGM_FI_DEV_POWER_USAGE").values():
        assert values.min() > 30.0 and values.max() <= 700.0


def _by_model(
    history: History, name: str, suffix: str, model_label: str, **match: str
) -> dict[str, dict[int, float]]:
    """Per model, the series (with labels ``match``) summed at each timestamp."""
    out: dict[str, dict[int, float]] = {}
    for labels, points in history.points(name, suffix).items():
        if not match.items() <= dict(labels).items():
            continue
        total = out.setdefault(dict(labels)[model_label], {})
        for t, v in points.items():
            total[t] = total.get(t, 0.0) + v
    return out


def test_gateway_counters_sum_over_tenants_to_the_engine_counters(mixed: History) -> None:
    """LiteLLM per team and the OTel token histogram per tenant add up to the engines' token counters
    (vLLM and SGLang alike), the OTel one at its export instants (every 60 s from the window start)."""
    engine = _by_model(mixed, "vllm:prompt_tokens", "_total", "model_name")
    engine |= _by_model(mixed, "sglang:prompt_tokens", "_total", "model_name")
    litellm = _by_model(mixed, "litellm_input_tokens_metric", "_total", "requested_model")
    otel = _by_model(
        mixed, "gen_ai_client_token_usage", "_sum", "gen_ai_request_model", gen_ai_token_type="input"
    )
    start = int(mixed.start.timestamp())
    for model, series in engine.items():
        last = max(series)
        assert litellm[model][last] == series[last], model
        exports = [t for t in series if (t - start) % 60 == 0 and t in otel.get(model, {})]
        assert exports, model
        for t in exports:
            assert otel[model][t] == series[t], (model, t)
