"""Where each simulated exporter lives: the scrape targets, and the GPUs on their hosts.

Hosts hold 8 GPUs of one type. Each pool's GPUs are contiguous (a pool starts a new host rather than straddle
one when it fits on a fresh one), then the type's shared and MIG GPUs (one per ``gpu_group``), then its
unallocated GPUs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from attribution.sim.cluster import ClusterSpec, PoolSpec
from attribution.sim.exposition import Target

GPUS_PER_HOST = 8
VLLM_PORT = 8000
SGLANG_PORT = 30000
DCGM_PORT = 9400
#: Where each engine serves its metrics: Triton's metrics port is 8002 (HTTP inference on 8000).
ENGINE_PORTS = {"vllm": VLLM_PORT, "sglang": SGLANG_PORT, "triton-trtllm": 8002, "trtllm-serve": 8000}
GATEWAY_TARGET = ("gateway", "gateway:4000", "gateway-0")
LITELLM_TARGET = ("litellm", "litellm-0:4000", "litellm-0")
OTEL_TARGET = ("otel-collector", "otel-collector-0:8889", "otel-collector-0")


@dataclass(frozen=True)
class Gpu:
    host: str
    index: int
    gpu_key: str
    pool: int | None
    uuid: str
    sharers: tuple[int, ...] = ()
    """Pools (indices) on this GPU's MIG instances or time slices; ``pool`` is then None."""


def engine_pod(pool: PoolSpec) -> str:
    return f"{pool.name}-0"


def engine_target(spec: ClusterSpec, pool: PoolSpec) -> Target:
    pod = engine_pod(pool)
    port = ENGINE_PORTS[pool.engine]
    return Target(pool.engine, f"{pod}:{port}", (("namespace", spec.namespace), ("pod", pod)))


def service_target(spec: ClusterSpec, which: tuple[str, str, str]) -> Target:
    job, instance, pod = which
    return Target(job, instance, (("namespace", spec.namespace), ("pod", pod)))


def dcgm_target(host: str) -> Target:
    return Target("dcgm-exporter", f"{host}:{DCGM_PORT}")


def gpu_inventory(spec: ClusterSpec) -> list[Gpu]:
    """Every GPU the cluster pays for, packed onto hosts of 8 (see the module docstring)."""
    types = list(dict.fromkeys([p.gpu_key for p in spec.pools] + list(spec.unallocated_gpus)))
    gpus: list[Gpu] = []
    host_number = 0
    for gpu_key in types:
        groups: list[tuple[int | None, int, tuple[int, ...]]] = [
            (i, p.gpus, ()) for i, p in enumerate(spec.pools) if p.gpu_key == gpu_key and p.gpu_group is None
        ]
        shared = [p.gpu_group for p in spec.pools if p.gpu_key == gpu_key and p.gpu_group is not None]
        for group in dict.fromkeys(shared):
            groups.append((None, 1, tuple(i for i, p in enumerate(spec.pools) if p.gpu_group == group)))
        groups.append((None, spec.unallocated_gpus.get(gpu_key, 0), ()))
        used = GPUS_PER_HOST  # forces a new host for the first group of each type
        for pool, count, sharers in groups:
            if pool is not None and used + count > GPUS_PER_HOST:
                used = GPUS_PER_HOST
            for _ in range(count):
                if used == GPUS_PER_HOST:
                    host_number += 1
                    used = 0
                host = f"gpu-node-{host_number:02d}"
                gpus.append(Gpu(host, used, gpu_key, pool, _fake_uuid(spec.seed, host, used), sharers))
                used += 1
    return gpus


def _fake_uuid(seed: int, host: str, index: int) -> str:
    h = hashlib.sha256(f"{seed}:{host}:{index}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
