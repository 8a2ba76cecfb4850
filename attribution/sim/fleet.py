"""The ``fleet`` scenario: a large cluster built from a 64-GPU block of pool presets, with tenants drawn
at random (lognormal sizes, one or two pools each), for the scale test. See docs/simulator.md.

Pool rates are capped so that no pool sits above half its KV capacity on average; the cap uses the
expected KV token-seconds of a request (``_token_seconds``), so bursts and diurnal peaks still go above it.
"""

from __future__ import annotations

import math

import numpy as np

from attribution.errors import ConfigError
from attribution.sim.cluster import BurstProcess, ClusterSpec, Exporters, PoolSpec, TenantProfile
from attribution.sim.pool_presets import pool_preset, pool_presets

#: (pool preset, pools per block, requests/s per pool at load 1) of the fleet's 64-GPU building block.
#: Load 1 is about 100 requests/s over the whole 1,024-GPU fleet: light for the small models (a real 8B
#: replica takes tens per second), but it keeps a month of simulation within hours of one core; the KV
#: residency per request, hence memory-time per request, is realistic. See docs/simulator.md.
_FLEET_BLOCK: tuple[tuple[str, int, float], ...] = (
    ("llama-405b", 2, 0.5),
    ("llama-70b", 4, 0.4),
    ("mistral-small-24b", 4, 0.3),
    ("llama-8b", 8, 0.2),
    ("deepseek-v3", 1, 0.5),
    ("qwen-72b", 1, 0.4),
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
        for preset, count, rate in _FLEET_BLOCK:
            served = pool_presets()[preset]["served_model_name"]
            for i in range(count):
                suffix = f"-{block:02d}-{i}"
                pools.append(pool_preset(preset, preset + suffix, served_model_name=served + suffix))
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
