"""One simulated run on its time axes: the requests, the scrape instants, and per-pool load at them.

Times are float seconds relative to the window start (``start_unix_seconds``); the simulation begins
``warmup_seconds`` earlier so that the window opens on a cluster already in steady state, with
requests in flight and counters above zero, as a real backfill would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attribution.sim.buckets import tier_names
from attribution.sim.engine import Requests, simulate
from attribution.sim.integrate import Segments, kv_segments, sample_segments
from attribution.sim.scenario import ClusterSpec
from attribution.sim.workload import FloatArray, IntArray


@dataclass(frozen=True)
class SimRun:
    """Everything the exposition builders and the ground truth read.

    ``tier[i]`` indexes ``tier_names`` for request i by its context (prompt + output) tokens.
    ``scrape_seconds`` are relative to the window start; ``scrape_unix_seconds`` the same instants.
    """

    spec: ClusterSpec
    start_unix_seconds: int
    window_seconds: int
    requests: Requests
    segments: Segments
    tier: IntArray
    tier_boundaries_tokens: tuple[int, ...]
    tier_names: tuple[str, ...]
    scrape_seconds: FloatArray
    scrape_unix_seconds: IntArray
    include_histograms: bool

    @property
    def n_scrapes(self) -> int:
        return int(self.scrape_seconds.size)

    @property
    def n_tiers(self) -> int:
        return len(self.tier_names)

    def tenant_tier_group(self) -> IntArray:
        """Per request, tenant x n_tiers + tier: the key of the native contract's series."""
        return self.requests.tenant * self.n_tiers + self.tier


def build_run(
    spec: ClusterSpec,
    start_unix_seconds: int,
    window_seconds: int,
    *,
    warmup_seconds: int,
    tier_boundaries_tokens: tuple[int, ...],
    include_histograms: bool,
) -> SimRun:
    names = tier_names(tier_boundaries_tokens)
    requests = simulate(spec, -float(warmup_seconds), float(window_seconds), start_unix_seconds)
    bounds = np.asarray(tier_boundaries_tokens, dtype=np.int64)
    tier = np.searchsorted(bounds, requests.context_tokens, side="right") - 1
    scrape_offsets = np.arange(
        spec.scrape_offset_seconds, window_seconds, spec.scrape_interval_seconds, dtype=np.int64
    )
    return SimRun(
        spec=spec,
        start_unix_seconds=start_unix_seconds,
        window_seconds=window_seconds,
        requests=requests,
        segments=kv_segments(requests),
        tier=tier.astype(np.int64),
        tier_boundaries_tokens=tier_boundaries_tokens,
        tier_names=names,
        scrape_seconds=scrape_offsets.astype(np.float64),
        scrape_unix_seconds=scrape_offsets + start_unix_seconds,
        include_histograms=include_histograms,
    )


@dataclass(frozen=True)
class PoolLoad:
    """Per pool (rows) and scrape (columns): what vLLM's gauges report and dcgm's load follows.

    ``blocks`` is sum over running requests of ceil(held tokens / block_size) at the scrape instant;
    ``kv_usage`` is blocks / (num_gpu_blocks - 1), vLLM's ``kv_cache_usage_perc``.
    """

    running: IntArray
    waiting: IntArray
    blocks: IntArray
    kv_usage: FloatArray


def pool_load(run: SimRun) -> PoolLoad:
    """Gauges at each scrape t: running = admitted <= t < finished, waiting = arrived <= t < admitted."""
    n_pools = len(run.spec.pools)
    req = run.requests
    shape = (n_pools, run.n_scrapes)
    running = np.zeros(shape, dtype=np.int64)
    waiting = np.zeros(shape, dtype=np.int64)
    t = run.scrape_seconds
    for p in range(n_pools):
        mine = req.pool == p

        def at_or_before(times: FloatArray) -> IntArray:
            return np.searchsorted(np.sort(times), t, side="right").astype(np.int64)

        arrived = at_or_before(req.arrival_seconds[mine])
        admitted = at_or_before(req.admit_seconds[mine])
        running[p] = admitted - at_or_before(req.finish_seconds[mine])
        waiting[p] = arrived - admitted
    segment, when, held = sample_segments(run.segments, t)
    seg_pool = req.pool[run.segments.request[segment]]
    block_size = np.array([pool.block_size for pool in run.spec.pools], dtype=np.float64)
    blocks_each = np.ceil(held / block_size[seg_pool])
    flat = np.bincount(seg_pool * run.n_scrapes + when, weights=blocks_each, minlength=np.prod(shape))
    blocks = np.rint(flat).astype(np.int64).reshape(shape)
    usable = np.array([pool.num_gpu_blocks - 1 for pool in run.spec.pools], dtype=np.float64)
    return PoolLoad(running, waiting, blocks, blocks / usable[:, None])
