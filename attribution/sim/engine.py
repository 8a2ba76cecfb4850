"""The engine: one FIFO queue per pool and continuous batching without preemption.

The head of the queue is admitted while fewer than ``max_num_seqs`` requests run and the blocks
reserved for every running request's *full* context, ceil((prompt + output) / block_size), fit in the
usable blocks (num_gpu_blocks - 1: vLLM keeps one null block). Reserving the whole context up front is
what makes preemption impossible in this first cut. Head-of-line blocking is deliberate: vLLM's FCFS
scheduler also stops at the first request it cannot place.

Once admitted, a request prefills for prompt / prefill_tps seconds, decodes for output / decode_tps
seconds, and frees its blocks at finish. All times are float seconds relative to the window start.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from attribution.sim.scenario import ClusterSpec, PoolSpec
from attribution.sim.workload import (
    BoolArray,
    FloatArray,
    IntArray,
    TenantArrivals,
    draw_tenant_arrivals,
    tenant_rng,
)


@dataclass(frozen=True)
class Requests:
    """Every simulated request, grouped by pool and in arrival order within a pool.

    ``pool`` and ``tenant`` index ``ClusterSpec.pools`` and ``ClusterSpec.tenants``. Invariants:
    arrival <= admit < prefill_end < finish.
    """

    pool: IntArray
    tenant: IntArray
    arrival_seconds: FloatArray
    admit_seconds: FloatArray
    prefill_end_seconds: FloatArray
    finish_seconds: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    length_capped: BoolArray

    @property
    def count(self) -> int:
        return int(self.pool.size)

    @property
    def context_tokens(self) -> IntArray:
        return self.prompt_tokens + self.output_tokens


def simulate(
    spec: ClusterSpec, begin_seconds: float, end_seconds: float, start_unix_seconds: int
) -> Requests:
    """Draw arrivals in [begin_seconds, end_seconds) and serve every one of them to completion.

    Requests still queued or running at ``end_seconds`` are served past it, so that consumers can
    integrate the part of their residency that falls inside the window.
    """
    parts: list[Requests] = []
    for pool_index, pool in enumerate(spec.pools):
        tenant_indices: list[int] = []
        draws: list[TenantArrivals] = []
        for tenant_index, tenant in enumerate(spec.tenants):
            if tenant.pool != pool.name:
                continue
            rng = tenant_rng(spec.seed, tenant)
            draws.append(
                draw_tenant_arrivals(tenant, pool, rng, begin_seconds, end_seconds, start_unix_seconds)
            )
            tenant_indices.append(tenant_index)
        parts.append(_serve_pool(pool_index, pool, tenant_indices, draws))
    return _concatenate(parts)


def _serve_pool(
    pool_index: int, pool: PoolSpec, tenant_indices: list[int], draws: list[TenantArrivals]
) -> Requests:
    """Merge the tenants' arrivals (stable by tenant order on ties) and run the FIFO scheduler."""
    tenant = np.concatenate(
        [
            np.full(d.arrival_seconds.size, i, dtype=np.int64)
            for i, d in zip(tenant_indices, draws, strict=True)
        ]
        or [np.zeros(0, dtype=np.int64)]
    )
    arrival = _cat([d.arrival_seconds for d in draws], np.float64)
    order = np.argsort(arrival, kind="stable")
    arrival = arrival[order]
    prompt = _cat([d.prompt_tokens for d in draws], np.int64)[order]
    output = _cat([d.output_tokens for d in draws], np.int64)[order]
    capped = _cat([d.length_capped for d in draws], np.bool_)[order]
    prefill_seconds = prompt / pool.prefill_tokens_per_second
    decode_seconds = output / pool.decode_tokens_per_second
    blocks = -(-(prompt + output) // pool.block_size)
    admit = _fifo_admissions(
        arrival.tolist(),
        blocks.tolist(),
        prefill_seconds.tolist(),
        decode_seconds.tolist(),
        pool.max_num_seqs,
        pool.num_gpu_blocks - 1,
    )
    prefill_end = admit + prefill_seconds
    return Requests(
        pool=np.full(arrival.size, pool_index, dtype=np.int64),
        tenant=tenant[order],
        arrival_seconds=arrival,
        admit_seconds=admit,
        prefill_end_seconds=prefill_end,
        finish_seconds=prefill_end + decode_seconds,
        prompt_tokens=prompt,
        output_tokens=output,
        length_capped=capped,
    )


def _fifo_admissions(
    arrival: list[float],
    blocks: list[int],
    prefill_seconds: list[float],
    decode_seconds: list[float],
    max_num_seqs: int,
    capacity_blocks: int,
) -> FloatArray:
    """Admission time of each request under FIFO continuous batching (plain lists: this loop is hot).

    The queue is the index range [head, arrived): FIFO admission keeps arrival order, so no deque.
    Completions sit in a heap of (finish time, blocks), the finish time computed exactly as the caller
    will compute it, (admit + prefill) + decode, so freed and admitted blocks never overlap by an ulp.
    On a tie a completion is processed first.
    """
    count = len(arrival)
    admit = [0.0] * count
    completions: list[tuple[float, int]] = []
    running = used_blocks = head = arrived = 0
    while head < count:
        next_arrival = arrival[arrived] if arrived < count else math.inf
        if completions and completions[0][0] <= next_arrival:
            now, freed = heapq.heappop(completions)
            running -= 1
            used_blocks -= freed
        else:
            now = next_arrival
            arrived += 1
        while head < arrived and running < max_num_seqs and used_blocks + blocks[head] <= capacity_blocks:
            admit[head] = now
            used_blocks += blocks[head]
            running += 1
            heapq.heappush(completions, (now + prefill_seconds[head] + decode_seconds[head], blocks[head]))
            head += 1
    return np.asarray(admit, dtype=np.float64)


def _cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)


def _concatenate(parts: list[Requests]) -> Requests:
    return Requests(
        pool=np.concatenate([p.pool for p in parts]),
        tenant=np.concatenate([p.tenant for p in parts]),
        arrival_seconds=np.concatenate([p.arrival_seconds for p in parts]),
        admit_seconds=np.concatenate([p.admit_seconds for p in parts]),
        prefill_end_seconds=np.concatenate([p.prefill_end_seconds for p in parts]),
        finish_seconds=np.concatenate([p.finish_seconds for p in parts]),
        prompt_tokens=np.concatenate([p.prompt_tokens for p in parts]),
        output_tokens=np.concatenate([p.output_tokens for p in parts]),
        length_capped=np.concatenate([p.length_capped for p in parts]),
    )
