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

The pools are presets from ``pools.toml`` (``pool_preset``), changed here only where a scenario needs it
(a second replica's names, a smaller context, a shared GPU); the types are in ``cluster.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from attribution.errors import ConfigError
from attribution.sim.cluster import (
    BurstProcess,
    ClusterSpec,
    Exporters,
    Outage,
    ScheduledBurst,
    TenantProfile,
)
from attribution.sim.fleet import fleet
from attribution.sim.pool_presets import pool_preset

ALL_EXPORTERS = Exporters(litellm=True, otel=True)


def demo_cluster(seed: int = 0, scrape_interval_seconds: int = 30) -> ClusterSpec:
    """Two pools and five tenants; see docs/simulator.md for why these numbers.

    The 405B pool runs at roughly 20-60% KV use with short queueing when several 128k requests of
    ``umbrella-research`` overlap; the 24B pool is lightly loaded in KV terms but busy in requests.
    """
    mistral = pool_preset("mistral-small-24b")
    llama = pool_preset("llama-405b")
    tenants = (
        TenantProfile("acme-chat", mistral.name, 1.5, 1_500, 0.6, 300, 0.7, diurnal_amplitude=0.6),
        TenantProfile("globex-rag", mistral.name, 0.25, 14_000, 0.35, 400, 0.5, 0.3),
        TenantProfile("initech-assist", llama.name, 1.2, 1_800, 0.6, 350, 0.7, 0.5),
        TenantProfile("umbrella-research", llama.name, 0.05, 110_000, 0.12, 800, 0.5, 0.2),
        TenantProfile("hooli-batch", llama.name, 0.4, 11_000, 0.45, 500, 0.8, 0.0),
    )
    return ClusterSpec(
        pools=(mistral, llama),
        tenants=tenants,
        unallocated_gpus={"H100-SXM": 2},
        scrape_interval_seconds=scrape_interval_seconds,
        seed=seed,
    )


def small(seed: int = 0) -> ClusterSpec:
    pool = pool_preset("mistral-small-24b")
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
    pool = pool_preset("llama-405b")
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
        pool_preset("mistral-small-24b"),
        pool_preset("llama-70b"),
        pool_preset("llama-8b"),
        pool_preset("llama-8b", "llama-8b-batch", served_model_name="meta-llama/Llama-3.1-8B-Instruct-batch"),
        pool_preset("qwen-72b"),
        pool_preset("llama-405b"),
        pool_preset("deepseek-v3"),
        pool_preset(
            "mistral-small-24b",
            "mixtral-8x7b",
            model_key="mixtral-8x7b",
            gpu_key="A100-SXM-80GB",
            cache_dtype="auto",
            served_model_name="mistralai/Mixtral-8x7B-Instruct-v0.1",
            prefill_tokens_per_second=10_000.0,
            decode_tokens_per_second=60.0,
        ),
    )
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
    queued = pool_preset("mistral-small-24b", outages=(Outage(at_seconds, 30.0, 240.0, 30.0, mode="queue"),))
    failing = pool_preset("llama-8b", outages=(Outage(at_seconds, 20.0, 90.0, 20.0, mode="fail"),))
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
    pool = pool_preset("llama-70b")
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


def shared_gpus(seed: int = 0) -> ClusterSpec:
    """Pools smaller than a GPU: MIG instances of one A100 (4 + 2 of its 8 memory slices; 2 free) and two
    engines time-slicing one H100 (45% and 35% of its memory), dcgm-exporter's per-instance and per-pod
    series; one idle H100. Small models, 8k context, light traffic."""
    small = {"max_model_len": 8192, "max_num_seqs": 64}
    pools = (
        pool_preset("llama-8b", "mig-mistral-7b", model_key="mistral-7b", served_model_name="mistral-7b-mig",
                    gpu_key="A100-SXM-80GB", gpu_group="a100-mig", mig_profile="3g.40gb", **small),
        pool_preset("llama-8b", "mig-llama-8b", served_model_name="llama-8b-mig", gpu_key="A100-SXM-80GB",
                    gpu_group="a100-mig", mig_profile="2g.20gb", weight_dtype_bytes=1, cache_dtype="fp8",
                    **small),
        pool_preset("llama-8b", "ts-mistral-7b", model_key="mistral-7b",
                    served_model_name="mistral-7b-timesliced", gpu_group="h100-ts",
                    gpu_memory_utilization=0.45, **small),
        pool_preset("llama-8b", "ts-llama-8b", served_model_name="llama-8b-timesliced", gpu_group="h100-ts",
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
