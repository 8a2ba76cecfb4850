"""Named scenarios: ``scenario(name, seed=...)`` returns a ``ClusterSpec``.

| name | what it shows |
| --- | --- |
| ``demo`` | ``demo_cluster()``: the two pools of ``make demo`` |
| ``small`` | a 24B-class model on 2 x H100, 32k context, FP8 KV cache; chat, RAG, code and bursty tenants |
| ``large`` | a 405B-class model (FP8 weights) on 8 x H200 at 128k; KV-bound, preempts at peaks |
| ``mixed`` | eight pools (vLLM and one SGLang; GQA and MLA models), 12 unallocated GPUs, every exporter |
| ``restart`` | two pools that fail one hour into the window: one queued at the gateway, one failing |
| ``noisy-neighbour`` | one tenant's 10-minute burst of ~120k-token requests fills a 70B pool; others queue |
| ``fleet`` | ``fleet()``: 1,024 GPUs, 1,000 tenants (the scale test) |
| ``shared-gpus`` | MIG instances of an A100 (2 slices free), an H100 time-sliced by two pools, an idle H100 |

Options: ``noisy-neighbour`` takes ``burst=False`` (same cluster, same other tenants, no burst);
``restart`` takes ``at_seconds``; ``fleet`` takes ``gpus``, ``tenants``, ``load``. Times are seconds after
the window start, so run these with a window of at least two hours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from attribution.errors import ConfigError
from attribution.sim.scenario import (
    BurstProcess,
    ClusterSpec,
    Exporters,
    Outage,
    PoolSpec,
    ScheduledBurst,
    TenantProfile,
    demo_cluster,
)

ALL_EXPORTERS = Exporters(litellm=True, otel=True)


def _mistral_24b(name: str = "mistral-small-24b", **changes: Any) -> PoolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "model_key": "mistral-small-24b",
        "served_model_name": "mistralai/Mistral-Small-24B-Instruct-2501",
        "gpu_key": "H100-SXM",
        "gpus": 2,
        "weight_dtype_bytes": 2,
        "cache_dtype": "fp8",
        "max_model_len": 32768,
        "prefill_tokens_per_second": 15_000.0,
        "decode_tokens_per_second": 75.0,
    }
    return PoolSpec(**{**fields, **changes})


def _llama_405b(name: str = "llama-405b", **changes: Any) -> PoolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "model_key": "llama-3.1-405b",
        "served_model_name": "meta-llama/Llama-3.1-405B-Instruct-FP8",
        "gpu_key": "H200-SXM",
        "gpus": 8,
        "weight_dtype_bytes": 1,
        "cache_dtype": "auto",
        "max_model_len": 131072,
        "max_num_seqs": 64,
        "prefill_tokens_per_second": 5_000.0,
        "decode_tokens_per_second": 30.0,
    }
    return PoolSpec(**{**fields, **changes})


def _llama_70b(name: str = "llama-70b", **changes: Any) -> PoolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "model_key": "llama-3.1-70b",
        "served_model_name": "meta-llama/Llama-3.1-70B-Instruct",
        "gpu_key": "H100-SXM",
        "gpus": 4,
        "weight_dtype_bytes": 2,
        "cache_dtype": "auto",
        "max_model_len": 131072,
        "max_num_seqs": 128,
        "prefill_tokens_per_second": 8_000.0,
        "decode_tokens_per_second": 40.0,
    }
    return PoolSpec(**{**fields, **changes})


def _llama_8b(name: str = "llama-8b", **changes: Any) -> PoolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "model_key": "llama-3.1-8b",
        "served_model_name": "meta-llama/Llama-3.1-8B-Instruct",
        "gpu_key": "H100-SXM",
        "gpus": 1,
        "weight_dtype_bytes": 2,
        "cache_dtype": "auto",
        "max_model_len": 32768,
        "prefill_tokens_per_second": 30_000.0,
        "decode_tokens_per_second": 120.0,
    }
    return PoolSpec(**{**fields, **changes})


def _qwen_72b_sglang(name: str = "qwen-72b", **changes: Any) -> PoolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "model_key": "qwen2.5-72b",
        "served_model_name": "Qwen/Qwen2.5-72B-Instruct",
        "gpu_key": "H200-SXM",
        "gpus": 4,
        "weight_dtype_bytes": 2,
        "cache_dtype": "auto",
        "max_model_len": 32768,
        "block_size": 1,
        "engine": "sglang",
        "prefill_tokens_per_second": 8_000.0,
        "decode_tokens_per_second": 40.0,
    }
    return PoolSpec(**{**fields, **changes})


def _deepseek_v3(name: str = "deepseek-v3", **changes: Any) -> PoolSpec:
    fields: dict[str, Any] = {
        "name": name,
        "model_key": "deepseek-v3",
        "served_model_name": "deepseek-ai/DeepSeek-V3",
        "gpu_key": "H200-SXM",
        "gpus": 8,
        "weight_dtype_bytes": 1,
        "cache_dtype": "auto",
        "max_model_len": 131072,
        "max_num_seqs": 128,
        "prefill_tokens_per_second": 6_000.0,
        "decode_tokens_per_second": 35.0,
    }
    return PoolSpec(**{**fields, **changes})


def small(seed: int = 0) -> ClusterSpec:
    pool = _mistral_24b()
    tenants = (
        TenantProfile("acme-chat", pool.name, 6.0, 1_500, 0.6, 300, 0.7, diurnal_amplitude=0.6),
        TenantProfile("globex-rag", pool.name, 1.5, 20_000, 0.25, 450, 0.5, diurnal_amplitude=0.3),
        TenantProfile("initech-code", pool.name, 2.0, 8_000, 0.5, 400, 0.6),
        TenantProfile("hooli-batch", pool.name, 0.2, 3_000, 0.4, 800, 0.5,
                      bursts=BurstProcess(starts_per_hour=2.0, mean_seconds=300.0, requests_per_second=4.0)),
    )  # fmt: skip
    return ClusterSpec(
        pools=(pool,),
        tenants=tenants,
        seed=seed,
        exporters=Exporters(litellm=True),
        scrape_interval_seconds=15,
    )


def large(seed: int = 0) -> ClusterSpec:
    pool = _llama_405b()
    tenants = (
        TenantProfile("initech-assist", pool.name, 1.2, 1_800, 0.6, 350, 0.7, diurnal_amplitude=0.5),
        TenantProfile("globex-rag", pool.name, 0.35, 24_000, 0.3, 400, 0.5, diurnal_amplitude=0.3),
        TenantProfile("umbrella-research", pool.name, 0.06, 110_000, 0.12, 800, 0.5, diurnal_amplitude=0.2),
        TenantProfile("hooli-batch", pool.name, 0.2, 11_000, 0.45, 500, 0.8,
                      bursts=BurstProcess(starts_per_hour=1.0, mean_seconds=600.0, requests_per_second=1.0)),
    )  # fmt: skip
    return ClusterSpec(
        pools=(pool,), tenants=tenants, seed=seed, exporters=Exporters(otel=True), scrape_interval_seconds=15
    )


def mixed(seed: int = 0) -> ClusterSpec:
    pools = (
        _mistral_24b(),
        _llama_70b(),
        _llama_8b(),
        _llama_8b("llama-8b-batch", served_model_name="meta-llama/Llama-3.1-8B-Instruct-batch"),
        _qwen_72b_sglang(),
        _llama_405b(),
        _deepseek_v3(),
        _mistral_24b("mixtral-8x7b", model_key="mixtral-8x7b", gpu_key="A100-SXM-80GB", cache_dtype="auto",
                     served_model_name="mistralai/Mixtral-8x7B-Instruct-v0.1",
                     prefill_tokens_per_second=10_000.0, decode_tokens_per_second=60.0),
    )  # fmt: skip
    t = TenantProfile
    tenants = (
        t("acme-chat", "mistral-small-24b", 3.0, 1_500, 0.6, 300, 0.7, diurnal_amplitude=0.6),
        t("acme-chat", "llama-8b", 4.0, 1_200, 0.6, 250, 0.7, diurnal_amplitude=0.6),
        t("globex-rag", "llama-70b", 0.8, 16_000, 0.35, 400, 0.5, diurnal_amplitude=0.3),
        t("globex-rag", "qwen-72b", 0.6, 14_000, 0.35, 400, 0.5),
        t("initech-code", "qwen-72b", 1.0, 6_000, 0.5, 300, 0.6, diurnal_amplitude=0.4),
        t("initech-code", "deepseek-v3", 0.6, 8_000, 0.5, 500, 0.6, diurnal_amplitude=0.4),
        t("umbrella-research", "llama-405b", 0.06, 110_000, 0.12, 800, 0.5),
        t("umbrella-research", "deepseek-v3", 0.05, 100_000, 0.15, 900, 0.5),
        t(
            "hooli-batch",
            "llama-8b-batch",
            0.5,
            3_000,
            0.5,
            600,
            0.6,
            bursts=BurstProcess(starts_per_hour=3.0, mean_seconds=300.0, requests_per_second=8.0),
        ),
        t("stark-agents", "llama-405b", 1.0, 6_000, 0.6, 300, 0.6, diurnal_amplitude=0.5),
        t("stark-agents", "llama-70b", 1.2, 5_000, 0.6, 300, 0.6, diurnal_amplitude=0.5),
        t("wayne-support", "mixtral-8x7b", 2.0, 2_000, 0.5, 250, 0.6, diurnal_amplitude=0.7),
        t("wayne-support", "mistral-small-24b", 1.0, 2_500, 0.5, 250, 0.6, diurnal_amplitude=0.7),
        t("cyberdyne-eval", "llama-70b", 0.1, 60_000, 0.3, 200, 0.4),
    )
    return ClusterSpec(
        pools=pools,
        tenants=tenants,
        unallocated_gpus={"H100-SXM": 4, "A100-SXM-80GB": 6, "H200-SXM": 2},
        seed=seed,
        exporters=replace(ALL_EXPORTERS, dcgm_host_label="hostname"),
        scrape_interval_seconds=15,
    )


def restart(seed: int = 0, at_seconds: float = 3600.0) -> ClusterSpec:
    queued = _mistral_24b(outages=(Outage(at_seconds, 30.0, 240.0, 30.0, mode="queue"),))
    failing = _llama_8b(outages=(Outage(at_seconds, 20.0, 90.0, 20.0, mode="fail"),))
    tenants = (
        TenantProfile("acme-chat", queued.name, 4.0, 1_500, 0.6, 300, 0.7),
        TenantProfile("globex-rag", queued.name, 1.0, 14_000, 0.35, 400, 0.5),
        TenantProfile("acme-chat", failing.name, 3.0, 1_200, 0.6, 250, 0.7),
        TenantProfile("hooli-batch", failing.name, 0.5, 3_000, 0.5, 600, 0.6),
    )
    return ClusterSpec(
        pools=(queued, failing),
        tenants=tenants,
        seed=seed,
        exporters=ALL_EXPORTERS,
        scrape_interval_seconds=15,
    )


def noisy_neighbour(seed: int = 0, burst: bool = True) -> ClusterSpec:
    pool = _llama_70b()
    noisy = ScheduledBurst(at_seconds=3600.0, duration_seconds=600.0, requests_per_second=0.1)
    tenants = (
        TenantProfile("acme-chat", pool.name, 4.0, 1_500, 0.6, 300, 0.7),
        TenantProfile("globex-rag", pool.name, 0.5, 12_000, 0.35, 400, 0.5),
        TenantProfile("initech-code", pool.name, 1.0, 6_000, 0.5, 300, 0.6),
        TenantProfile("umbrella-longctx", pool.name, 0.0, 120_000, 0.05, 500, 0.3,
                      scheduled_bursts=(noisy,) if burst else ()),
    )  # fmt: skip
    return ClusterSpec(
        pools=(pool,),
        tenants=tenants,
        seed=seed,
        exporters=Exporters(litellm=True),
        scrape_interval_seconds=15,
    )


#: (pool factory, pools per block, requests/s per pool at load 1) of the fleet's 64-GPU building block.
#: Load 1 is about 100 requests/s over the whole 1,024-GPU fleet: light for the small models (a real 8B
#: replica takes tens per second), but it keeps a month of simulation within hours of one core; the KV
#: residency per request, hence memory-time per request, is realistic. See docs/simulator.md.
_FLEET_BLOCK: tuple[tuple[Callable[..., PoolSpec], int, float], ...] = (
    (_llama_405b, 2, 0.5),
    (_llama_70b, 4, 0.4),
    (_mistral_24b, 4, 0.3),
    (_llama_8b, 8, 0.2),
    (_deepseek_v3, 1, 0.5),
    (_qwen_72b_sglang, 1, 0.4),
)
_FLEET_BLOCK_UNALLOCATED = 4
#: Archetypes: (prompt median, sigma, output median, sigma, diurnal amplitude, bursty).
_ARCHETYPES = (
    (1_500, 0.6, 300, 0.7, 0.6, False),
    (12_000, 0.35, 400, 0.5, 0.3, False),
    (6_000, 0.5, 300, 0.6, 0.4, False),
    (3_000, 0.5, 700, 0.6, 0.0, True),
    (60_000, 0.3, 600, 0.5, 0.2, False),
)


#: Ceiling on a fleet pool's expected mean KV use (the bursts and diurnal peaks go above it).
_MAX_MEAN_KV = 0.5


def _token_seconds(pool: PoolSpec, archetype: tuple[int, float, int, float, float, bool]) -> float:
    """Expected KV token-seconds of one request (lognormal means): the prompt ramps in during prefill and
    is held through decode while the output grows."""
    prompt_median, p_sigma, output_median, o_sigma, _, _ = archetype
    prompt = min(prompt_median, pool.max_model_len // 2) * math.exp(p_sigma**2 / 2)
    output = output_median * math.exp(o_sigma**2 / 2)
    prefill, decode = prompt / pool.prefill_tokens_per_second, output / pool.decode_tokens_per_second
    return prompt * (prefill / 2 + decode) + output * decode / 2


def fleet(
    seed: int = 0, gpus: int = 1024, tenants: int = 1000, load: float = 1.0, scrape_interval_seconds: int = 30
) -> ClusterSpec:
    """A fleet of ``gpus`` GPUs (a multiple of 64) in blocks of 64: two 405B pools (8 x H200), four 70B
    (4 x H100), four 24B (2 x H100), eight 8B (1 x H100), one DeepSeek-V3 (8 x H200), one SGLang Qwen-72B
    (4 x H200) and 4 unallocated H100s; ``tenants`` tenants with lognormal sizes, each on one or two pools.
    ``load`` scales every pool's request rate."""
    if gpus < 64 or gpus % 64:
        raise ConfigError("fleet gpus must be a positive multiple of 64")
    rng = np.random.default_rng([seed, 1024])
    pools: list[PoolSpec] = []
    rates: list[float] = []
    for block in range(gpus // 64):
        for factory, count, rate in _FLEET_BLOCK:
            for i in range(count):
                name = f"{factory().name}-{block:02d}-{i}"
                pools.append(
                    factory(name, served_model_name=f"{factory().served_model_name}-{block:02d}-{i}")
                )
                rates.append(rate * load)
    weights = rng.lognormal(0.0, 1.2, tenants)
    primary = rng.integers(0, len(pools), tenants)
    secondary = np.where(rng.uniform(size=tenants) < 0.5, rng.integers(0, len(pools), tenants), -1)
    archetype = rng.integers(0, len(_ARCHETYPES), tenants)
    uses = [
        (t, int(p)) for t in range(tenants) for p in sorted({int(primary[t]), int(secondary[t])}) if p >= 0
    ]
    share = np.zeros(len(pools))
    residency = np.zeros(len(pools))  # weighted KV token-seconds per request
    for t, p in uses:
        share[p] += weights[t]
        residency[p] += weights[t] * _token_seconds(pools[p], _ARCHETYPES[int(archetype[t])])
    # No pool above half its KV capacity on average: token-seconds per second / capacity <= 0.5.
    for p, pool in enumerate(pools):
        if share[p] > 0:
            rates[p] = min(rates[p], _MAX_MEAN_KV * pool.kv_capacity_tokens * share[p] / residency[p])
    profiles = []
    for t, p in uses:
        pool = pools[p]
        prompt, p_sigma, output, o_sigma, diurnal, bursty = _ARCHETYPES[int(archetype[t])]
        rate = rates[p] * weights[t] / share[p]
        prompt = min(prompt, pool.max_model_len // 2)
        bursts = BurstProcess(1.0, 300.0, 4.0 * rate) if bursty else None
        profiles.append(
            TenantProfile(
                f"tenant-{t:04d}", pool.name, rate, prompt, p_sigma, output, o_sigma, diurnal, bursts
            )
        )
    return ClusterSpec(
        pools=tuple(pools),
        tenants=tuple(profiles),
        unallocated_gpus={"H100-SXM": _FLEET_BLOCK_UNALLOCATED * (gpus // 64)},
        seed=seed,
        scrape_interval_seconds=scrape_interval_seconds,
        exporters=Exporters(litellm=True),
    )


def shared_gpus(seed: int = 0) -> ClusterSpec:
    """Pools smaller than a GPU: MIG instances of one A100 (4 + 2 of its 8 memory slices; 2 free) and two
    engines time-slicing one H100 (45% and 35% of its memory), dcgm-exporter's per-instance and per-pod
    series; one idle H100. Small models, 8k context, light traffic."""
    small: dict[str, Any] = {"max_model_len": 8192, "max_num_seqs": 64}
    fp8: dict[str, Any] = {"weight_dtype_bytes": 1, "cache_dtype": "fp8"}
    pools = (
        _llama_8b("mig-mistral-7b", model_key="mistral-7b", served_model_name="mistral-7b-mig",
                  gpu_key="A100-SXM-80GB", gpu_group="a100-mig", mig_profile="3g.40gb", **small),
        _llama_8b("mig-llama-8b", served_model_name="llama-8b-mig", gpu_key="A100-SXM-80GB",
                  gpu_group="a100-mig", mig_profile="2g.20gb", **fp8, **small),
        _llama_8b("ts-mistral-7b", model_key="mistral-7b", served_model_name="mistral-7b-timesliced",
                  gpu_group="h100-ts", gpu_memory_utilization=0.45, **small),
        _llama_8b("ts-llama-8b", served_model_name="llama-8b-timesliced", gpu_group="h100-ts",
                  gpu_memory_utilization=0.35, **small),
    )  # fmt: skip
    t = TenantProfile
    tenants = (
        t("acme-chat", "mig-mistral-7b", 2.0, 1_000, 0.6, 250, 0.7),
        t("globex-rag", "mig-mistral-7b", 0.4, 5_000, 0.3, 300, 0.5),
        t("acme-chat", "mig-llama-8b", 1.5, 1_200, 0.6, 250, 0.7),
        t("initech-code", "ts-mistral-7b", 1.0, 3_000, 0.5, 300, 0.6),
        t("hooli-batch", "ts-llama-8b", 0.8, 2_000, 0.5, 400, 0.6),
        t("acme-chat", "ts-llama-8b", 1.0, 1_000, 0.6, 250, 0.7),
    )
    return ClusterSpec(
        pools=pools, tenants=tenants, unallocated_gpus={"H100-SXM": 1}, seed=seed, scrape_interval_seconds=15
    )


SCENARIOS: dict[str, Callable[..., ClusterSpec]] = {
    "demo": demo_cluster,
    "small": small,
    "large": large,
    "mixed": mixed,
    "restart": restart,
    "noisy-neighbour": noisy_neighbour,
    "fleet": fleet,
    "shared-gpus": shared_gpus,
}


def scenario(name: str, seed: int = 0, **options: Any) -> ClusterSpec:
    """The named scenario's cluster; ``options`` go to its factory (see the module docstring)."""
    try:
        factory = SCENARIOS[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    try:
        return factory(seed=seed, **options)
    except TypeError as exc:
        raise ConfigError(f"scenario {name!r}: {exc}") from None
