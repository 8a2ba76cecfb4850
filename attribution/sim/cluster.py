"""What the simulated cluster looks like: pools of GPUs each running one engine, tenants, exporters.

A pool is one engine (vLLM, or SGLang as an option) with tensor parallelism equal to its GPU count. Its
KV-cache size follows vLLM's start-up profiling in spirit:

    KV bytes = gpu_memory_utilization x pool memory - weights - activation reserve,

floored to whole blocks of ``block_size`` tokens. The activation reserve (default 6 GiB per GPU) stands for
what vLLM subtracts besides weights: peak activation memory during its profiling run plus non-torch
memory (CUDA context, NCCL buffers, CUDA graphs). Start-up logs of dense 24B-405B models on H100/H200
show 5-8 GiB per GPU for these together.

Times in scenario objects (outages, scheduled bursts) are seconds after the start of the simulated window.
The named clusters built from these types are in ``scenarios.py``; the shipped pools in ``pools.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from attribution.catalog import get_gpu, get_model
from attribution.catalog.models import kv_dtype_bytes
from attribution.errors import ConfigError
from attribution.sim.hardware import MIG_PROFILES

GIB = 1024**3

#: Default per-GPU memory vLLM keeps outside weights and the KV pool (activations, CUDA/NCCL context).
ACTIVATION_RESERVE_BYTES_PER_GPU = 6 * GIB
EngineKind = Literal["vllm", "sglang", "triton-trtllm", "trtllm-serve"]
#: What the gateway does with a pool's requests while its engine is down: hold them and send them when the
#: engine is back (``queue``), or answer with an error (``fail``).
OutageMode = Literal["queue", "fail"]
HostLabel = Literal["Hostname", "hostname"]


@dataclass(frozen=True)
class ScheduledBurst:
    """``requests_per_second`` extra arrivals during [at_seconds, at_seconds + duration_seconds)."""

    at_seconds: float
    duration_seconds: float
    requests_per_second: float

    def __post_init__(self) -> None:
        if self.duration_seconds <= 0 or self.requests_per_second < 0:
            raise ConfigError("a scheduled burst needs a positive duration and a rate >= 0")


@dataclass(frozen=True)
class BurstProcess:
    """Random on/off bursts: burst starts form a Poisson process of ``starts_per_hour``; each burst lasts an
    exponential time of mean ``mean_seconds`` (capped at one hour); while at least one is on, the tenant
    sends ``requests_per_second`` more. Overlapping bursts merge (the on-periods of an M/G/inf queue)."""

    starts_per_hour: float
    mean_seconds: float
    requests_per_second: float

    def __post_init__(self) -> None:
        if self.starts_per_hour < 0 or self.mean_seconds <= 0 or self.requests_per_second < 0:
            raise ConfigError("a burst process needs starts_per_hour >= 0, mean_seconds > 0, rate >= 0")


@dataclass(frozen=True)
class TenantProfile:
    """One tenant's traffic on one pool.

    Prompt and output lengths are lognormal: ``median`` is exp(mu) in tokens and ``sigma`` the standard
    deviation of the log. The arrival rate is steady, or diurnal with ``diurnal_amplitude`` in [0, 1]
    (rate x (1 + amplitude x sin(2 pi x UTC-second-of-day / 86400))), plus random ``bursts`` and
    ``scheduled_bursts`` on top.
    """

    name: str
    pool: str
    requests_per_second: float
    prompt_tokens_median: int
    prompt_tokens_sigma: float
    output_tokens_median: int
    output_tokens_sigma: float
    diurnal_amplitude: float = 0.0
    bursts: BurstProcess | None = None
    scheduled_bursts: tuple[ScheduledBurst, ...] = ()

    def __post_init__(self) -> None:
        if self.requests_per_second < 0:
            raise ConfigError(f"tenant {self.name!r}: requests_per_second must be >= 0")
        if self.prompt_tokens_median < 1 or self.output_tokens_median < 1:
            raise ConfigError(f"tenant {self.name!r}: token medians must be >= 1")
        if self.prompt_tokens_sigma < 0 or self.output_tokens_sigma < 0:
            raise ConfigError(f"tenant {self.name!r}: sigmas must be >= 0")
        if not 0.0 <= self.diurnal_amplitude <= 1.0:
            raise ConfigError(f"tenant {self.name!r}: diurnal_amplitude must be in [0, 1]")


@dataclass(frozen=True)
class Outage:
    """The pool's engine dies ``at_seconds`` after the window start and comes back ``down_seconds`` later.

    Phases, as a real restart shows them: the process is gone for ``restart_delay_seconds`` (the GPUs stay
    allocated to the pod, framebuffer nearly empty); then weights load for ``reload_seconds`` (framebuffer
    climbs to the weights' share); then ``init_seconds`` of KV-cache allocation, profiling and CUDA graphs
    (framebuffer at its serving level) before ``/metrics`` answers again, with every counter at zero.
    In-flight and queued requests are lost; the gateway queues or fails the pool's traffic meanwhile
    (``mode``).
    """

    at_seconds: float
    restart_delay_seconds: float = 30.0
    reload_seconds: float = 240.0
    init_seconds: float = 30.0
    mode: OutageMode = "queue"

    def __post_init__(self) -> None:
        if min(self.restart_delay_seconds, self.reload_seconds, self.init_seconds) < 0:
            raise ConfigError("outage phases must be >= 0 seconds")
        if self.down_seconds <= 0:
            raise ConfigError("an outage must last some time")

    @property
    def down_seconds(self) -> float:
        return self.restart_delay_seconds + self.reload_seconds + self.init_seconds


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """One pool: ``gpus`` GPUs of ``gpu_key`` serving one engine with tensor_parallel = gpus.

    Speeds are per sequence and do not depend on batch size: prefill runs at ``prefill_tokens_per_second``
    and decode at ``decode_tokens_per_second`` for every running request. ``weight_dtype_bytes`` is bytes
    per parameter (2 for BF16, 1 for FP8); ``cache_dtype`` is vLLM's label value (``auto`` = the activation
    dtype, BF16 here). ``engine="sglang"`` exports SGLang's metrics instead of vLLM's (same scheduler
    model; give it ``block_size=1``, SGLang's default page size); ``"triton-trtllm"`` and ``"trtllm-serve"``
    export TensorRT-LLM's (attribution/sim/trtllm.py; its default is 32 tokens per block). A waiting
    request is admitted when the blocks of its first prefill chunk, min(prompt, ``max_num_batched_tokens``),
    are free.

    Pools naming the same ``gpu_group`` share one physical GPU (``gpus`` must be 1): as MIG instances of
    ``mig_profile`` (the pool's memory is the instance's), or, without a profile, time-sliced, each
    engine pre-allocating ``gpu_memory_utilization`` of the whole GPU.
    """

    name: str
    model_key: str
    served_model_name: str
    gpu_key: str
    gpus: int
    weight_dtype_bytes: int
    cache_dtype: str
    max_model_len: int
    prefill_tokens_per_second: float
    decode_tokens_per_second: float
    max_num_seqs: int = 256
    block_size: int = 16
    gpu_memory_utilization: float = 0.92
    activation_reserve_bytes_per_gpu: int = ACTIVATION_RESERVE_BYTES_PER_GPU
    engine: EngineKind = "vllm"
    max_num_batched_tokens: int = 8192
    outages: tuple[Outage, ...] = ()
    gpu_group: str | None = None
    mig_profile: str | None = None

    def __post_init__(self) -> None:
        if self.gpu_group is not None and self.gpus != 1:
            raise ConfigError(f"pool {self.name!r}: a pool on a shared or MIG GPU has gpus = 1")
        if self.mig_profile is not None and (
            self.gpu_group is None or (self.gpu_key, self.mig_profile) not in MIG_PROFILES
        ):
            raise ConfigError(f"pool {self.name!r}: mig_profile needs a gpu_group and a known profile")
        if min(self.gpus, self.max_num_seqs, self.block_size, self.max_num_batched_tokens) < 1:
            raise ConfigError(
                f"pool {self.name!r}: gpus, max_num_seqs, block_size, max_num_batched_tokens must be >= 1"
            )
        if self.engine not in ("vllm", "sglang", "triton-trtllm", "trtllm-serve"):
            raise ConfigError(
                f"pool {self.name!r}: engine must be 'vllm', 'sglang', 'triton-trtllm' or 'trtllm-serve'"
            )
        starts = [o.at_seconds for o in self.outages]
        ends = [o.at_seconds + o.down_seconds for o in self.outages]
        if any(b <= a for a, b in zip(ends, starts[1:], strict=False)):
            raise ConfigError(f"pool {self.name!r}: outages must be in time order and not overlap")
        if self.max_model_len < 2:
            raise ConfigError(f"pool {self.name!r}: max_model_len must leave room for 1 + 1 tokens")
        if self.prefill_tokens_per_second <= 0 or self.decode_tokens_per_second <= 0:
            raise ConfigError(f"pool {self.name!r}: token speeds must be positive")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ConfigError(f"pool {self.name!r}: gpu_memory_utilization must be in (0, 1]")
        # Touch the catalog now so an unknown key fails at construction, not mid-simulation.
        get_model(self.model_key)
        get_gpu(self.gpu_key)
        kv_dtype_bytes(self.cache_dtype)
        if self.max_context_blocks > self.num_gpu_blocks - 1:
            raise ConfigError(
                f"pool {self.name!r}: KV cache of {self.num_gpu_blocks} blocks cannot hold one "
                f"{self.max_model_len}-token request ({self.max_context_blocks} blocks + 1 null block)"
            )

    @property
    def tensor_parallel(self) -> int:
        return self.gpus

    @property
    def memory_bytes(self) -> int:
        """Framebuffer bytes of the whole pool (gpus x the GPU's reported total; a MIG instance's part)."""
        if self.mig_profile is not None:
            slices, total = MIG_PROFILES[(self.gpu_key, self.mig_profile)]
            return get_gpu(self.gpu_key).memory_bytes * slices // total
        return self.gpus * get_gpu(self.gpu_key).memory_bytes

    @property
    def weights_bytes(self) -> int:
        return get_model(self.model_key).weights_bytes(self.weight_dtype_bytes)

    @property
    def kv_bytes_per_token(self) -> int:
        """KV bytes one token pins across all ``gpus`` GPUs of the engine (replicated heads included)."""
        model = get_model(self.model_key)
        return model.kv_bytes_per_token_for(self.cache_dtype, self.tensor_parallel)

    @property
    def num_gpu_blocks(self) -> int:
        """KV blocks of ``block_size`` tokens: the budget left after weights and reserve, floored."""
        budget_bytes = (
            math.floor(self.gpu_memory_utilization * self.memory_bytes)
            - self.weights_bytes
            - self.activation_reserve_bytes_per_gpu * self.gpus
        )
        return max(0, budget_bytes // (self.block_size * self.kv_bytes_per_token))

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens the KV cache holds, num_gpu_blocks x block_size (vLLM's ``kv_cache_size_tokens``)."""
        return self.num_gpu_blocks * self.block_size

    @property
    def kv_capacity_bytes(self) -> int:
        return self.kv_capacity_tokens * self.kv_bytes_per_token

    @property
    def max_context_blocks(self) -> int:
        """Blocks one request of ``max_model_len`` tokens reserves."""
        return -(-self.max_model_len // self.block_size)

    @property
    def usable_blocks(self) -> int:
        """Blocks requests can hold: vLLM keeps one null block (the denominator of its usage gauge);
        SGLang's and TensorRT-LLM's pools have none (``max_total_num_tokens``, ``max`` blocks all usable)."""
        return self.num_gpu_blocks - 1 if self.engine == "vllm" else self.num_gpu_blocks


@dataclass(frozen=True)
class Exporters:
    """Which exporters the simulated cluster runs: each one is a set of targets and metric families.

    ``engines``: vLLM 0.33.0 (or SGLang 0.5.23 for ``engine="sglang"`` pools), one target per pool;
    ``dcgm``: dcgm-exporter, one target per host, with ``dcgm_host_label`` spelled as before (``Hostname``,
    releases up to 4.5.3-4.8.2) or after (``hostname``) dcgm-exporter #655; ``native``: our gateway contract
    (``llm_tenant_*``); ``litellm``: LiteLLM 1.110.2 proxy metrics; ``otel``: OpenTelemetry GenAI metrics of
    an Envoy AI Gateway as an OTel collector's Prometheus exporter serves them, cumulative values refreshed
    every ``otel_export_interval_seconds`` (the SDK's periodic export).
    """

    engines: bool = True
    dcgm: bool = True
    native: bool = True
    litellm: bool = False
    otel: bool = False
    dcgm_host_label: HostLabel = "Hostname"
    otel_export_interval_seconds: int = 60

    def __post_init__(self) -> None:
        if self.dcgm_host_label not in ("Hostname", "hostname"):
            raise ConfigError("dcgm_host_label must be 'Hostname' or 'hostname'")
        if self.otel_export_interval_seconds < 1:
            raise ConfigError("otel_export_interval_seconds must be >= 1")


@dataclass(frozen=True)
class ClusterSpec:
    """Pools, tenants and idle GPUs, plus how Prometheus scrapes them.

    ``unallocated_gpus`` maps a GPU catalog key to a count of GPUs that are paid for but serve no pool:
    dcgm-exporter still exports them, without pod labels. Scrapes happen at
    window start + ``scrape_offset_seconds`` + k x ``scrape_interval_seconds``.
    """

    pools: tuple[PoolSpec, ...]
    tenants: tuple[TenantProfile, ...]
    unallocated_gpus: dict[str, int] = field(default_factory=dict)
    scrape_interval_seconds: int = 15
    scrape_offset_seconds: int = 0
    seed: int = 0
    namespace: str = "inference"
    exporters: Exporters = field(default_factory=Exporters)

    def __post_init__(self) -> None:
        pool_names = [p.name for p in self.pools]
        served = [p.served_model_name for p in self.pools]
        if not pool_names:
            raise ConfigError("a cluster needs at least one pool")
        if len(set(pool_names)) != len(pool_names) or len(set(served)) != len(served):
            raise ConfigError("pool names and served model names must be unique")
        tenant_keys = [(t.name, t.pool) for t in self.tenants]
        if len(set(tenant_keys)) != len(tenant_keys):
            raise ConfigError("a tenant may appear once per pool")
        for tenant in self.tenants:
            if tenant.pool not in pool_names:
                raise ConfigError(f"tenant {tenant.name!r} names unknown pool {tenant.pool!r}")
        for gpu_key, count in self.unallocated_gpus.items():
            get_gpu(gpu_key)
            if count < 0:
                raise ConfigError(f"unallocated_gpus[{gpu_key!r}] must be >= 0")
        if self.scrape_interval_seconds < 1:
            raise ConfigError("scrape_interval_seconds must be >= 1")
        if not 0 <= self.scrape_offset_seconds < self.scrape_interval_seconds:
            raise ConfigError("scrape_offset_seconds must be in [0, scrape_interval_seconds)")
        for group in {p.gpu_group for p in self.pools if p.gpu_group is not None}:
            members = [p for p in self.pools if p.gpu_group == group]
            if len({(p.gpu_key, p.mig_profile is None) for p in members}) != 1:
                raise ConfigError(f"gpu_group {group!r}: one GPU type, all MIG or all time-sliced")
            if members[0].mig_profile is not None:
                used = sum(MIG_PROFILES[(p.gpu_key, str(p.mig_profile))][0] for p in members)
                if used > MIG_PROFILES[(members[0].gpu_key, str(members[0].mig_profile))][1]:
                    raise ConfigError(f"gpu_group {group!r}: MIG instances hold more slices than the GPU")
            elif sum(p.gpu_memory_utilization for p in members) > 1.0:
                raise ConfigError(f"gpu_group {group!r}: gpu_memory_utilization sums to more than 1")

    def physical_gpus(self) -> dict[str, int]:
        """GPUs the cluster pays for, by type: the unallocated, each pool's own, one per ``gpu_group``."""
        inventory = dict(self.unallocated_gpus)
        groups = {p.gpu_group: p.gpu_key for p in self.pools if p.gpu_group is not None}
        for key in [p.gpu_key for p in self.pools if p.gpu_group is None for _ in range(p.gpus)] + list(
            groups.values()
        ):
            inventory[key] = inventory.get(key, 0) + 1
        return inventory

    def pool(self, name: str) -> PoolSpec:
        for pool in self.pools:
            if pool.name == name:
                return pool
        raise ConfigError(f"unknown pool {name!r}")
