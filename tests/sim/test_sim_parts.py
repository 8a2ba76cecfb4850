"""The simulator's parts on small hand-made inputs: capacity, tiers, buckets, scheduling, integrals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from attribution.errors import ConfigError
from attribution.sim import ClusterSpec, PoolSpec, TenantProfile, demo_cluster
from attribution.sim.buckets import (
    context_histogram_bounds,
    go_float,
    request_tokens_buckets,
    tier_names,
)
from attribution.sim.engine import simulate
from attribution.sim.integrate import (
    Segments,
    cumulative_events,
    integrate_blocks,
    integrate_tokens,
    max_of_sum,
    sample_segments,
)

GIB = 1024**3
MIB = 1024**2


def test_demo_capacity_follows_the_documented_formula() -> None:
    mistral, llama = demo_cluster().pools
    assert llama.kv_bytes_per_token == 2 * 126 * 8 * 128 * 2  # 504 KiB, BF16 KV, TP 8
    assert mistral.kv_bytes_per_token == 2 * 40 * 8 * 128 * 1  # 80 KiB, FP8 KV, TP 2
    memory = 8 * 143_771 * MIB
    budget = math.floor(0.92 * memory) - 405_850_000_000 - 8 * 6 * GIB
    assert llama.memory_bytes == memory
    assert llama.num_gpu_blocks == budget // (16 * llama.kv_bytes_per_token)
    assert llama.kv_capacity_tokens == llama.num_gpu_blocks * 16
    assert llama.kv_capacity_bytes <= budget < llama.kv_capacity_bytes + 16 * llama.kv_bytes_per_token
    assert 1.0e6 < llama.kv_capacity_tokens < 1.5e6
    assert mistral.memory_bytes == 2 * 81_559 * MIB


def _pool(**changes: object) -> PoolSpec:
    fields: dict[str, object] = {
        "name": "p",
        "model_key": "llama-3.1-8b",
        "served_model_name": "m",
        "gpu_key": "H100-SXM",
        "gpus": 1,
        "weight_dtype_bytes": 2,
        "cache_dtype": "auto",
        "max_model_len": 8192,
        "prefill_tokens_per_second": 10_000.0,
        "decode_tokens_per_second": 50.0,
    }
    fields.update(changes)
    return PoolSpec(**fields)  # type: ignore[arg-type]


def test_misconfigured_pools_and_clusters_are_refused() -> None:
    with pytest.raises(ConfigError):  # 405B BF16 weights do not fit one H100
        _pool(model_key="llama-3.1-405b")
    with pytest.raises(ConfigError):
        _pool(gpu_key="no-such-gpu")
    with pytest.raises(ConfigError):
        _pool(cache_dtype="int3")
    tenant = TenantProfile("t", "elsewhere", 1.0, 100, 0.5, 10, 0.5)
    with pytest.raises(ConfigError):
        ClusterSpec(pools=(_pool(),), tenants=(tenant,))
    with pytest.raises(ConfigError):
        ClusterSpec(pools=(_pool(),), tenants=(), scrape_interval_seconds=15, scrape_offset_seconds=15)


def test_tiers_and_buckets() -> None:
    assert tier_names((0, 4096, 32768, 131072)) == ("0-4k", "4k-32k", "32k-128k", "128k+")
    assert tier_names((0, 8192, 100_000)) == ("0-8k", "8k-100000", "100000+")
    assert context_histogram_bounds((0, 4096, 32768)) == (4095.0, 32767.0)
    with pytest.raises(ConfigError):
        tier_names((1, 4096))
    assert len(request_tokens_buckets(8192)) == 12
    assert len(request_tokens_buckets(32768)) == 14
    assert request_tokens_buckets(131072)[-3:] == (20_000.0, 50_000.0, 100_000.0)
    assert [go_float(v) for v in (0.3, 1.0, 7680.0, 1e6, math.inf)] == [
        "0.3", "1.0", "7680.0", "1e+06", "+Inf",
    ]  # fmt: skip


def _tight_cluster() -> ClusterSpec:
    """A pool whose KV (and batch) fills up, so the queue and head-of-line blocking are exercised."""
    pool = _pool(max_num_seqs=12, gpu_memory_utilization=0.35, max_model_len=32768)
    tenants = (
        TenantProfile("big", "p", 0.4, 20_000, 0.3, 400, 0.5),
        TenantProfile("small", "p", 3.0, 800, 0.6, 200, 0.7, diurnal_amplitude=1.0),
    )
    return ClusterSpec(pools=(pool,), tenants=tenants, seed=5)


def test_fifo_scheduler_respects_capacity_and_batch_size() -> None:
    spec = _tight_cluster()
    pool = spec.pools[0]
    req = simulate(spec, 0.0, 4 * 3600.0, 1_793_000_000)
    assert req.count > 1000
    assert np.all(req.admit_seconds >= req.arrival_seconds)
    assert np.all(np.diff(req.admit_seconds) >= 0)  # FIFO: admitted in arrival order
    assert np.all(req.context_tokens <= pool.max_model_len)
    assert req.prompt_tokens.min() >= 1 and req.output_tokens.min() >= 1
    waited = req.admit_seconds > req.arrival_seconds
    assert waited.mean() > 0.01
    # A queued request is admitted only when a running one finishes.
    assert np.all(np.isin(req.admit_seconds[waited], req.finish_seconds))
    blocks = -(-req.context_tokens // pool.block_size)
    for t in req.admit_seconds[::7]:
        running = (req.admit_seconds <= t) & (t < req.finish_seconds)
        assert running.sum() <= pool.max_num_seqs
        assert blocks[running].sum() <= pool.num_gpu_blocks - 1


def test_diurnal_thinning_shapes_the_rate() -> None:
    spec = _tight_cluster()
    day_start = 1_792_972_800  # a UTC midnight
    req = simulate(spec, 0.0, 86_400.0, day_start)
    small = req.arrival_seconds[req.tenant == 1]
    peak = ((small >= 3 * 3600) & (small < 9 * 3600)).sum()  # sin > 0.7 around 06:00
    trough = ((small >= 15 * 3600) & (small < 21 * 3600)).sum()  # around 18:00
    assert peak > 5 * trough


def _random_segments(rng: np.random.Generator, count: int) -> Segments:
    start = rng.uniform(-20.0, 100.0, count)
    end = start + rng.uniform(0.01, 40.0, count)
    low = rng.uniform(0.0, 500.0, count)
    return Segments(start, end, low, low + rng.uniform(1.0, 300.0, count), np.arange(count))


def _dense(seg: Segments, times: np.ndarray) -> np.ndarray:
    """Held tokens per segment (rows) at ``times`` (columns), by direct evaluation."""
    frac = (times[None, :] - seg.start[:, None]) / (seg.end - seg.start)[:, None]
    inside = (times[None, :] >= seg.start[:, None]) & (times[None, :] < seg.end[:, None])
    held = seg.held_start[:, None] + frac * (seg.held_end - seg.held_start)[:, None]
    return np.where(inside, held, 0.0)


def _reference_integrals(seg: Segments, i: int, a: float, b: float, block_size: float) -> tuple[float, float]:
    """Token- and block-seconds of segment i over [a, b), by scalar code: trapezoid for tokens; for
    blocks, split the ramp where it crosses multiples of block_size and add constant pieces."""
    s, e = max(seg.start[i], a), min(seg.end[i], b)
    if e <= s:
        return 0.0, 0.0
    slope = (seg.held_end[i] - seg.held_start[i]) / (seg.end[i] - seg.start[i])
    h_s = seg.held_start[i] + slope * (s - seg.start[i])
    h_e = seg.held_start[i] + slope * (e - seg.start[i])
    tokens = (e - s) * (h_s + h_e) / 2
    cuts = [s]
    level = math.floor(h_s / block_size) + 1
    while level * block_size < h_e:
        cuts.append(s + (level * block_size - h_s) / slope)
        level += 1
    cuts.append(e)
    blocks = 0.0
    for lo, hi in itertools.pairwise(cuts):
        mid_held = h_s + slope * ((lo + hi) / 2 - s)
        blocks += (hi - lo) * math.ceil(mid_held / block_size)
    return tokens, blocks


def test_integrals_match_a_scalar_reference() -> None:
    rng = np.random.default_rng(1)
    seg = _random_segments(rng, 40)
    group = rng.integers(0, 3, 40)
    edges = np.array([0.0, 7.5, 30.0, 31.0, 80.0])
    tokens = integrate_tokens(seg, group, 3, edges)
    blocks = integrate_blocks(seg, group, 3, edges, np.full(40, 16.0))
    want_tokens, want_blocks = np.zeros((3, 4)), np.zeros((3, 4))
    for i in range(40):
        for c in range(4):
            t, b = _reference_integrals(seg, i, edges[c], edges[c + 1], 16.0)
            want_tokens[group[i], c] += t
            want_blocks[group[i], c] += b
    assert np.allclose(tokens, want_tokens, rtol=1e-10, atol=1e-7)
    assert np.allclose(blocks, want_blocks, rtol=1e-9, atol=1e-6)
    assert want_tokens.min() > 0


def test_block_integral_of_a_ramp_is_a_staircase() -> None:
    seg = Segments(np.array([0.0]), np.array([2.0]), np.array([0.0]), np.array([32.0]), np.array([0]))
    blocks = integrate_blocks(seg, np.array([0]), 1, np.array([0.0, 1.0, 2.0]), np.array([16.0]))
    assert blocks.tolist() == [[1.0, 2.0]]


def test_sampling_is_half_open_and_the_supremum_is_found() -> None:
    rng = np.random.default_rng(2)
    seg = _random_segments(rng, 60)
    times = np.array([0.0, 10.0, 25.5, 60.0])
    index, when, held = sample_segments(seg, times)
    dense = _dense(seg, times)
    got = np.zeros_like(dense)
    got[index, when] = held
    assert np.allclose(got, dense)
    group = np.zeros(60, dtype=np.int64)
    fine = np.arange(0.0, 80.0, 0.001)
    sampled = _dense(seg, fine).sum(axis=0).max()
    peak = max_of_sum(seg, group, 1, 0.0, 80.0)[0]
    assert sampled <= peak + 1e-6
    assert peak == pytest.approx(sampled, rel=1e-3)


def test_events_at_a_scrape_instant_count_at_the_next_scrape() -> None:
    scrapes = np.array([0.0, 15.0, 30.0])
    got = cumulative_events(np.array([-5.0, 0.0, 14.9, 15.0, 31.0]), scrapes)
    assert got.tolist() == [1.0, 3.0, 4.0]
