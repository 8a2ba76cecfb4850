"""The exposition speaks the exporters' language: names, types, labels, buckets, value ranges."""

from __future__ import annotations

import numpy as np

from attribution.catalog import get_gpu
from attribution.sim.buckets import (
    REQUEST_LATENCY_SECONDS,
    TIME_TO_FIRST_TOKEN_SECONDS,
    go_float,
    request_tokens_buckets,
)
from tests.sim.conftest import SCRAPE_INTERVAL_SECONDS, START, History
from tests.sim.omparse import Labels, ParsedFamily

# Mirrors /work/shared/reference/telemetry-sources.md (vLLM 0.33.0 sections 1.2-1.5, dcgm-exporter
# section 3.2 with Hostname as in 4.5.3-4.8.2) and the native gateway contract.
SCRAPE = frozenset({"job", "instance", "namespace", "pod"})
VLLM = SCRAPE | {"model_name", "engine"}
CACHE_CONFIG = SCRAPE | {
    "engine", "block_size", "num_gpu_blocks", "cache_dtype", "gpu_memory_utilization",
    "enable_prefix_caching", "kv_cache_size_tokens", "num_cpu_blocks",
}  # fmt: skip
DCGM_IDLE = frozenset(
    {"job", "instance", "gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname",
     "DCGM_FI_DRIVER_VERSION"}
)  # fmt: skip
DCGM_SERVING = DCGM_IDLE | {"namespace", "pod", "container"}
DCGM_GAUGES = (
    "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED", "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE",
)  # fmt: skip
TENANT_TIER = SCRAPE | {"tenant", "model", "tier"}
TENANT = SCRAPE | {"tenant", "model"}

EXPECTED: dict[str, tuple[str, set[frozenset[str]]]] = {
    "vllm:num_requests_running": ("gauge", {VLLM}),
    "vllm:num_requests_waiting": ("gauge", {VLLM}),
    "vllm:kv_cache_usage_perc": ("gauge", {VLLM}),
    "vllm:cache_config_info": ("gauge", {CACHE_CONFIG}),
    "vllm:num_preemptions": ("counter", {VLLM}),
    "vllm:prompt_tokens": ("counter", {VLLM}),
    "vllm:generation_tokens": ("counter", {VLLM}),
    "vllm:request_success": ("counter", {VLLM | {"finished_reason"}}),
    "vllm:e2e_request_latency_seconds": ("histogram", {VLLM}),
    "vllm:request_queue_time_seconds": ("histogram", {VLLM}),
    "vllm:request_prompt_tokens": ("histogram", {VLLM}),
    "vllm:request_generation_tokens": ("histogram", {VLLM}),
    "vllm:time_to_first_token_seconds": ("histogram", {VLLM}),
    **{name: ("gauge", {DCGM_IDLE, DCGM_SERVING}) for name in DCGM_GAUGES},
    "llm_tenant_requests": ("counter", {TENANT_TIER}),
    "llm_tenant_prompt_tokens": ("counter", {TENANT_TIER}),
    "llm_tenant_generation_tokens": ("counter", {TENANT_TIER}),
    "llm_tenant_kv_token_seconds": ("counter", {TENANT_TIER}),
    "llm_tenant_request_context_tokens": ("histogram", {TENANT}),
}


def _main_suffix(family: ParsedFamily) -> str:
    return {"counter": "_total", "gauge": "", "histogram": "_count"}[family.kind]


def test_every_family_has_the_reference_name_type_and_labels(history: History) -> None:
    assert set(history.families) == set(EXPECTED)
    for name, (kind, label_sets) in EXPECTED.items():
        family = history.families[name]
        assert family.kind == kind, name
        assert family.help, name
        assert family.label_names(_main_suffix(family)) == label_sets, name
        if kind == "histogram":
            with_le = {labels | {"le"} for labels in label_sets}
            assert family.label_names("_bucket") == with_le, name
            assert family.label_names("_sum") == label_sets, name


def _values(history: History, name: str, suffix: str = "") -> dict[Labels, np.ndarray]:
    family = history.families[name]
    return {
        labels: np.array([v for _, v in points])
        for (sample, labels), points in family.series.items()
        if sample == name + suffix
    }


def test_scrapes_are_on_the_grid_and_every_engine_series_spans_the_window(history: History) -> None:
    start = int(START.timestamp())
    expected = list(range(start, start + 3 * 3600, SCRAPE_INTERVAL_SECONDS))
    for family in history.families.values():
        for (sample, _), points in family.series.items():
            stamps = [t for t, _ in points]
            assert stamps == expected[len(expected) - len(stamps) :], sample
            if not sample.startswith("llm_tenant"):
                assert stamps == expected, sample


def test_kv_usage_is_a_fraction_of_whole_blocks(history: History) -> None:
    by_pool = {pool.served_model_name: pool for pool in history.spec.pools}
    for labels, usage in _values(history, "vllm:kv_cache_usage_perc").items():
        pool = by_pool[dict(labels)["model_name"]]
        assert usage.min() >= 0.0 and usage.max() <= 1.0
        blocks = usage * (pool.num_gpu_blocks - 1)
        assert np.allclose(blocks, np.rint(blocks), atol=1e-6)
        assert usage.max() > 0.0


def test_cache_config_info_matches_the_pool_geometry(history: History) -> None:
    rows = {dict(labels)["pod"]: dict(labels) for labels in _values(history, "vllm:cache_config_info")}
    for pool in history.spec.pools:
        row = rows[f"{pool.name}-0"]
        assert int(row["num_gpu_blocks"]) == pool.num_gpu_blocks
        assert int(row["kv_cache_size_tokens"]) == pool.num_gpu_blocks * pool.block_size
        assert row["cache_dtype"] == pool.cache_dtype
        assert row["num_cpu_blocks"] == "None" and row["enable_prefix_caching"] == "True"


def test_counters_never_decrease(history: History) -> None:
    for family in history.families.values():
        if family.kind == "gauge":
            continue
        for (sample, _), points in family.series.items():
            values = np.array([v for _, v in points])
            assert np.all(np.diff(values) >= 0), sample
            assert values.min() >= 0, sample


def test_histograms_are_cumulative_with_count_equal_to_inf(history: History) -> None:
    for family in history.families.values():
        if family.kind != "histogram":
            continue
        buckets: dict[Labels, list[tuple[float, np.ndarray]]] = {}
        for (sample, labels), points in family.series.items():
            if sample.endswith("_bucket"):
                base = tuple(kv for kv in labels if kv[0] != "le")
                le = float(dict(labels)["le"])
                buckets.setdefault(base, []).append((le, np.array([v for _, v in points])))
        counts = _values(history, family.name, "_count")
        for base, columns in buckets.items():
            ordered = [values for _, values in sorted(columns, key=lambda c: c[0])]
            assert sorted(columns, key=lambda c: c[0])[-1][0] == float("inf")
            stacked = np.vstack(ordered)
            assert np.all(np.diff(stacked, axis=0) >= 0), family.name
            assert np.array_equal(stacked[-1], counts[base]), family.name


def test_vllm_bucket_bounds_are_the_0_33_0_ones(history: History) -> None:
    def les(name: str, model: str) -> list[str]:
        family = history.families[name]
        return sorted(
            {
                dict(labels)["le"]
                for (sample, labels), _ in family.series.items()
                if sample.endswith("_bucket") and dict(labels)["model_name"] == model
            },
            key=float,
        )

    for pool in history.spec.pools:
        model = pool.served_model_name
        tokens = [go_float(b) for b in request_tokens_buckets(pool.max_model_len)] + ["+Inf"]
        assert les("vllm:request_prompt_tokens", model) == tokens
        latency = [go_float(b) for b in REQUEST_LATENCY_SECONDS] + ["+Inf"]
        assert les("vllm:e2e_request_latency_seconds", model) == latency
        ttft = [go_float(b) for b in TIME_TO_FIRST_TOKEN_SECONDS] + ["+Inf"]
        assert les("vllm:time_to_first_token_seconds", model) == ttft
    assert "100000.0" in les("vllm:request_prompt_tokens", "meta-llama/Llama-3.1-405B-Instruct-FP8")


def test_dcgm_framebuffer_sums_to_the_catalog_total_and_pods_map_gpus(history: History) -> None:
    used = _values(history, "DCGM_FI_DEV_FB_USED")
    free = _values(history, "DCGM_FI_DEV_FB_FREE")
    reserved = _values(history, "DCGM_FI_DEV_FB_RESERVED")
    pods: dict[str, int] = {}
    hosts: dict[str, set[str]] = {}
    for labels, values in used.items():
        label = dict(labels)
        total = [g for g in ("H100-SXM", "H200-SXM") if get_gpu(g).dcgm_model_name == label["modelName"]]
        assert np.all(values + free[labels] + reserved[labels] == get_gpu(total[0]).fb_total_mib)
        hosts.setdefault(label["Hostname"], set()).add(label.get("pod", "-"))
        if "pod" in label:
            pods[label["pod"]] = pods.get(label["pod"], 0) + 1
            assert values.min() > 0.9 * get_gpu(total[0]).fb_total_mib
        else:
            assert values.max() < 100
    assert pods == {f"{p.name}-0": p.gpus for p in history.spec.pools}
    assert hosts == {"gpu-node-01": {"mistral-small-24b-0", "-"}, "gpu-node-02": {"llama-405b-0"}}


def test_dcgm_activity_stays_in_range_and_follows_load(history: History) -> None:
    for labels, util in _values(history, "DCGM_FI_DEV_GPU_UTIL").items():
        assert util.min() >= 0 and util.max() <= 100
        assert (util.max() > 0) == ("pod" in dict(labels))
    for name in ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE"):
        for values in _values(history, name).values():
            assert values.min() >= 0.0 and values.max() <= 1.0
    for values in _values(history, "DCGM_FI_DEV_POWER_USAGE").values():
        assert values.min() > 30.0 and values.max() <= 700.0
