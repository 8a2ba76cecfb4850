"""What-if right-sizing: a pool's measured load against another deployment of the same model.

Pure arithmetic, no I/O. The caller states a deployment (GPU type and its memory and price, tensor-parallel
size, replicas, KV bytes per token at the chosen KV dtype) and the load measured over a window (peak KV
tokens in use across the pool, peak requests running, each tier's cost and tokens). The answer is GPUs,
cost per month and per window, cost per 1M tokens per tier, and whether the measured peak still fits.

KV capacity of one replica is its memory less the weights less what every GPU keeps outside weights and KV
(:class:`NonKv`: vLLM's unused ``1 - gpu_memory_utilization`` share of the GPU, and a fixed reserve for
activations and CUDA/NCCL context). The reserve is calibrated from the measured capacity
(:func:`calibrate`), so the current deployment reproduces what the engine reported and only the changed
parts are modelled.

Money is integer micro-USD; per-token prices are ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from attribution.model.money import allocate

#: Hours in an average month (365 x 24 / 12): what "per month" means in every answer.
HOURS_PER_MONTH = 730
SECONDS_PER_HOUR = 3600
MILLION = Decimal(1_000_000)
#: The measured peak (of interval means) fits a replica when it is at most this share of its KV capacity.
FIT_RATIO = Decimal("0.9")


@dataclass(frozen=True, slots=True)
class Deployment:
    """One way to run a pool: ``replicas`` engines of ``tensor_parallel`` GPUs of one type."""

    gpu_type: str
    gpu_memory_bytes: int
    usd_micros_per_gpu_hour: int
    tensor_parallel: int
    replicas: int
    kv_dtype: str
    kv_bytes_per_token: int
    """KV bytes one token pins across one engine (all its tensor-parallel GPUs), at ``kv_dtype``."""
    weights_bytes: int
    """Bytes of the model's weights, held once per replica (split across its GPUs)."""

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.replicas


@dataclass(frozen=True, slots=True)
class MeasuredLoad:
    """What a window measured on the pool as it ran."""

    window_seconds: int
    peak_kv_tokens: int
    """The largest pool-wide KV tokens in use in one interval (interval means, summed over engines)."""
    peak_requests_running: int | None
    """The largest pool-wide requests running in one interval (interval means, summed), if collected."""
    max_num_seqs: int
    tier_cost_usd_micros: Mapping[str, int]
    """Each tier's cost as attributed in the window: the weights by which a deployment's cost is split."""
    tier_tokens: Mapping[str, int]
    """Prompt plus generated tokens per tier in the window."""


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One deployment's answer against the measured load."""

    deployment: Deployment
    gpus: int
    usd_micros_per_month: int
    window_cost_usd_micros: int
    kv_capacity_bytes_per_replica: int
    kv_capacity_tokens_per_replica: int
    peak_kv_tokens_per_replica: int
    peak_kv_bytes_per_replica: int
    kv_peak_ratio: Decimal | None
    """Peak KV demand per replica over its KV capacity, in tokens."""
    kv_fits: bool
    peak_requests_per_replica: int | None
    batch_fits: bool | None
    tier_cost_usd_micros: dict[str, int]
    usd_per_million_tokens: dict[str, Decimal | None]
    usd_per_million_tokens_all: Decimal | None


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class NonKv:
    """Memory per GPU that is neither weights nor KV: the share of each GPU the engine leaves unused
    (vLLM's ``1 - gpu_memory_utilization``, scaling with the GPU's memory) and a fixed reserve (activations,
    CUDA/NCCL context) in bytes."""

    unused_ratio: Decimal
    reserve_bytes_per_gpu: int

    def per_gpu(self, gpu_memory_bytes: int) -> int:
        return int(self.unused_ratio * gpu_memory_bytes) + self.reserve_bytes_per_gpu


def calibrate(deployment: Deployment, kv_capacity_bytes_per_replica: int, unused_ratio: Decimal) -> NonKv:
    """The reserve per GPU the measured KV capacity implies, given the unused share (reserve >= 0)."""
    total = deployment.gpu_memory_bytes * deployment.tensor_parallel
    rest = (total - deployment.weights_bytes - kv_capacity_bytes_per_replica) // deployment.tensor_parallel
    unused = int(unused_ratio * deployment.gpu_memory_bytes)
    return NonKv(unused_ratio, max(0, rest - unused))


def kv_capacity_bytes(deployment: Deployment, non_kv: NonKv) -> int:
    """KV bytes one replica can hold: its memory less weights less the non-KV memory of each GPU (>= 0)."""
    total = deployment.gpu_memory_bytes * deployment.tensor_parallel
    per_gpu = non_kv.per_gpu(deployment.gpu_memory_bytes)
    return max(0, total - deployment.weights_bytes - per_gpu * deployment.tensor_parallel)


def cost_over(deployment: Deployment, seconds: int) -> int:
    """Micro-USD for ``seconds`` of the deployment's GPUs, rounded half-even to the micro-dollar."""
    exact = Decimal(deployment.gpus * deployment.usd_micros_per_gpu_hour * seconds) / SECONDS_PER_HOUR
    return int(exact.to_integral_value(ROUND_HALF_EVEN))


def per_ratio(part: int, whole: int) -> Decimal:
    return (Decimal(part) / whole).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)


def per_million(usd_micros: int, tokens: int) -> Decimal | None:
    """USD per 1M tokens, exact to the micro-dollar's precision (6 decimal places); None without tokens."""
    if tokens <= 0:
        return None
    return (Decimal(usd_micros) / tokens).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)


def answer(
    deployment: Deployment, load: MeasuredLoad, non_kv: NonKv, fit_ratio: Decimal = FIT_RATIO
) -> WhatIf:
    """The deployment against the load: capacity, fit, and the window's cost split by tier.

    The peak fits when it is at most ``fit_ratio`` of the capacity: the peak is of interval means, and
    bursts inside an interval go higher (the simulator's 405B pool on 4 x B200 preempted at 0.91).

    The window's cost is split over tiers in proportion to their attributed cost (largest remainder): the
    assumption is that a deployment changes the pool's price, not how its cost falls on the tiers.
    """
    if deployment.tensor_parallel < 1 or deployment.replicas < 1 or deployment.kv_bytes_per_token < 1:
        raise ValueError("tensor_parallel, replicas and kv_bytes_per_token must be positive")
    capacity = kv_capacity_bytes(deployment, non_kv)
    capacity_tokens = capacity // deployment.kv_bytes_per_token
    peak_tokens = ceil_div(load.peak_kv_tokens, deployment.replicas)
    peak_requests = (
        None
        if load.peak_requests_running is None
        else ceil_div(load.peak_requests_running, deployment.replicas)
    )
    window_cost = cost_over(deployment, load.window_seconds)
    tiers = sorted(load.tier_cost_usd_micros)
    weights = [max(0, load.tier_cost_usd_micros[t]) for t in tiers]
    parts = allocate(window_cost, weights) if sum(weights) else [0] * len(tiers)
    tier_cost = dict(zip(tiers, parts, strict=True))
    all_tokens = sum(load.tier_tokens.values())
    return WhatIf(
        deployment=deployment,
        gpus=deployment.gpus,
        usd_micros_per_month=deployment.gpus * deployment.usd_micros_per_gpu_hour * HOURS_PER_MONTH,
        window_cost_usd_micros=window_cost,
        kv_capacity_bytes_per_replica=capacity,
        kv_capacity_tokens_per_replica=capacity_tokens,
        peak_kv_tokens_per_replica=peak_tokens,
        peak_kv_bytes_per_replica=peak_tokens * deployment.kv_bytes_per_token,
        kv_peak_ratio=None if not capacity_tokens else per_ratio(peak_tokens, capacity_tokens),
        kv_fits=peak_tokens <= fit_ratio * capacity_tokens,
        peak_requests_per_replica=peak_requests,
        batch_fits=None if peak_requests is None else peak_requests <= load.max_num_seqs,
        tier_cost_usd_micros=tier_cost,
        usd_per_million_tokens={t: per_million(tier_cost[t], load.tier_tokens.get(t, 0)) for t in tiers},
        usd_per_million_tokens_all=per_million(window_cost, all_tokens),
    )
