"""The simulator's parts on small hand-made inputs: capacity, tiers, buckets, spelling, arrivals, integrals,
counters."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from attribution.errors import ConfigError
from attribution.sim import (
    BurstProcess,
    ClusterSpec,
    Exporters,
    Outage,
    PoolSpec,
    ScheduledBurst,
    TenantProfile,
    demo_cluster,
)
from attribution.sim.buckets import context_histogram_bounds, request_tokens_buckets, tier_names
from attribution.sim.counters import CounterBank, HistogramBank
from attribution.sim.exposition import go_float, python_float
from attribution.sim.integrate import Pieces, integrate_blocks, integrate_tokens, max_of_sum, sample_pieces
from attribution.sim.workload import Workload

GIB = 1024**3
MIB = 1024**2
DAY_START = 1_792_972_800  # a UTC midnight


def test_demo_capacity_follows_the_documented_formula() -> None:
    mistral, llama = demo_cluster().pools
    assert llama.kv_bytes_per_token == 2 * 126 * 8 * 128 * 2  # 504 KiB, BF16 KV, TP 8
    assert mistral.kv_bytes_per_token == 2 * 40 * 8 * 128 * 1  # 80 KiB, FP8 KV, TP 2
    memory = 8 * 143_771 * MIB
    budget = math.floor(0.92 * memory) - 405_850_000_000 - 8 * 6 * GIB
    assert llama.memory_bytes == memory
    assert llama.num_gpu_blocks == budget // (16 * llama.kv_bytes_per_token)
    assert llama.kv_capacity_tokens == llama.num_gpu_blocks * 16
    assert llama.usable_blocks == llama.num_gpu_blocks - 1
    assert 1.0e6 < llama.kv_capacity_tokens < 1.5e6


def _pool(**changes: object) -> PoolSpec:
    fields: dict[str, object] = {
        "name": "p", "model_key": "llama-3.1-8b", "served_model_name": "m", "gpu_key": "H100-SXM", "gpus": 1,
        "weight_dtype_bytes": 2, "cache_dtype": "auto", "max_model_len": 8192,
        "prefill_tokens_per_second": 10_000.0, "decode_tokens_per_second": 50.0,
    }  # fmt: skip
    fields.update(changes)
    return PoolSpec(**fields)  # type: ignore[arg-type]


def test_misconfigured_pools_and_clusters_are_refused() -> None:
    with pytest.raises(ConfigError):  # 405B BF16 weights do not fit one H100
        _pool(model_key="llama-3.1-405b")
    with pytest.raises(ConfigError):
        _pool(gpu_key="no-such-gpu")
    with pytest.raises(ConfigError):
        _pool(cache_dtype="int3")
    with pytest.raises(ConfigError):
        _pool(engine="tgi")
    with pytest.raises(ConfigError):  # overlapping outages
        _pool(outages=(Outage(100.0), Outage(200.0)))
    tenant = TenantProfile("t", "elsewhere", 1.0, 100, 0.5, 10, 0.5)
    with pytest.raises(ConfigError):
        ClusterSpec(pools=(_pool(),), tenants=(tenant,))
    with pytest.raises(ConfigError):
        ClusterSpec(pools=(_pool(),), tenants=(), scrape_interval_seconds=15, scrape_offset_seconds=15)
    with pytest.raises(ConfigError):
        Exporters(dcgm_host_label="host")  # type: ignore[arg-type]


def test_sglang_pools_have_no_null_block() -> None:
    vllm, sglang = _pool(), _pool(engine="sglang", block_size=1)
    assert vllm.usable_blocks == vllm.num_gpu_blocks - 1
    assert sglang.usable_blocks == sglang.num_gpu_blocks == sglang.kv_capacity_tokens


def test_tiers_and_buckets() -> None:
    assert tier_names((0, 4096, 32768, 131072)) == ("0-4k", "4k-32k", "32k-128k", "128k+")
    assert tier_names((0, 8192, 100_000)) == ("0-8k", "8k-100000", "100000+")
    assert context_histogram_bounds((0, 4096, 32768)) == (4095.0, 32767.0)
    with pytest.raises(ConfigError):
        tier_names((1, 4096))
    assert len(request_tokens_buckets(8192)) == 12
    assert len(request_tokens_buckets(32768)) == 14
    assert request_tokens_buckets(131072)[-3:] == (20_000.0, 50_000.0, 100_000.0)


def test_numbers_are_spelled_as_python_and_go_exporters_spell_them() -> None:
    values = (0.3, 1.0, 7680.0, 262144.0, 1e6, 1048576.0, 1e-5, math.inf)
    assert [python_float(v) for v in values] == [
        "0.3", "1.0", "7680.0", "262144.0", "1e+06", "1.048576e+06", "1e-05", "+Inf",
    ]  # fmt: skip
    assert [go_float(v) for v in values] == [
        "0.3",
        "1",
        "7680",
        "262144",
        "1e+06",
        "1.048576e+06",
        "1e-05",
        "+Inf",
    ]
    assert go_float(0.0) == "0" and go_float(81.92) == "81.92"


def _spec(*tenants: TenantProfile) -> ClusterSpec:
    return ClusterSpec(pools=(_pool(),), tenants=tenants, seed=5)


def _arrivals(spec: ClusterSpec, begin: float, end: float, start: int = DAY_START) -> np.ndarray:
    return Workload(spec, start, (0, 4096, 32768)).arrivals(begin, end)[0].time


def test_arrivals_do_not_depend_on_how_the_range_is_cut() -> None:
    spec = _spec(
        TenantProfile("a", "p", 2.0, 800, 0.6, 200, 0.7, diurnal_amplitude=0.5),
        TenantProfile("b", "p", 0.5, 800, 0.6, 200, 0.7, bursts=BurstProcess(6.0, 120.0, 5.0)),
    )
    whole = _arrivals(spec, 0.0, 7200.0)
    parts = np.concatenate([_arrivals(spec, 0.0, 1234.5), _arrivals(spec, 1234.5, 7200.0)])
    assert whole.size > 10_000 and np.array_equal(whole, parts)
    # and a window starting elsewhere sees the same requests at the same Unix instants
    shifted = _arrivals(spec, 0.0, 3600.0, start=DAY_START + 1800) + 1800
    assert np.allclose(shifted, whole[(whole >= 1800) & (whole < 5400)], rtol=0, atol=1e-6)


def test_steady_diurnal_and_bursty_arrivals_have_their_shapes() -> None:
    steady = _arrivals(_spec(TenantProfile("s", "p", 3.0, 800, 0.6, 200, 0.7)), 0.0, 86_400.0)
    assert steady.size == pytest.approx(3.0 * 86_400, rel=0.02)
    diurnal = _arrivals(
        _spec(TenantProfile("d", "p", 3.0, 800, 0.6, 200, 0.7, diurnal_amplitude=1.0)), 0.0, 86_400
    )
    peak = ((diurnal >= 3 * 3600) & (diurnal < 9 * 3600)).sum()  # sin > 0.7 around 06:00 UTC
    trough = ((diurnal >= 15 * 3600) & (diurnal < 21 * 3600)).sum()
    assert peak > 5 * trough
    bursty = _arrivals(_spec(TenantProfile("b", "p", 0.2, 800, 0.6, 200, 0.7,
                                           bursts=BurstProcess(2.0, 300.0, 5.0))), 0.0, 86_400.0)  # fmt: skip
    for times, dispersion in ((steady, (0.8, 1.2)), (bursty, (10.0, math.inf))):
        per_minute = np.bincount((times // 60).astype(int), minlength=1440)
        ratio = per_minute.var() / per_minute.mean()  # 1 for a Poisson process
        assert dispersion[0] < ratio < dispersion[1]
    scheduled = ScheduledBurst(at_seconds=600.0, duration_seconds=60.0, requests_per_second=2.0)
    noisy = TenantProfile("n", "p", 0.0, 800, 0.6, 200, 0.7, scheduled_bursts=(scheduled,))
    only_burst = _arrivals(_spec(noisy), 0.0, 3600.0)
    assert (
        only_burst.min() >= 600.0
        and only_burst.max() < 660.0
        and only_burst.size == pytest.approx(120, rel=0.3)
    )


def _random_pieces(rng: np.random.Generator, count: int) -> Pieces:
    start = rng.uniform(-20.0, 100.0, count)
    end = start + rng.uniform(0.01, 40.0, count)
    low = rng.uniform(0.0, 500.0, count)
    high = low + rng.uniform(1.0, 300.0, count)
    zeros = np.zeros(count, dtype=np.int64)
    return Pieces(start, end, low, high, (high - low) / (end - start), zeros, zeros)


def _dense(seg: Pieces, times: np.ndarray) -> np.ndarray:
    """Held tokens per piece (rows) at ``times`` (columns), by direct evaluation."""
    frac = (times[None, :] - seg.start[:, None]) / (seg.end - seg.start)[:, None]
    inside = (times[None, :] >= seg.start[:, None]) & (times[None, :] < seg.end[:, None])
    held = seg.held_start[:, None] + frac * (seg.held_end - seg.held_start)[:, None]
    return np.where(inside, held, 0.0)


def _reference_integrals(seg: Pieces, i: int, a: float, b: float, block_size: float) -> tuple[float, float]:
    """Token- and block-seconds of piece i over [a, b), by scalar code: trapezoid for tokens; for blocks,
    split the ramp where it crosses multiples of block_size and add constant pieces."""
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
    seg = _random_pieces(rng, 40)
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
    one = np.array([0])
    seg = Pieces(
        np.array([0.0]), np.array([2.0]), np.array([0.0]), np.array([32.0]), np.array([16.0]), one, one
    )
    blocks = integrate_blocks(seg, one, 1, np.array([0.0, 1.0, 2.0]), np.array([16.0]))
    assert blocks.tolist() == [[1.0, 2.0]]


def test_sampling_is_half_open_and_the_supremum_is_found_per_group() -> None:
    rng = np.random.default_rng(2)
    seg = _random_pieces(rng, 60)
    times = np.array([0.0, 10.0, 25.5, 60.0])
    index, when, held = sample_pieces(seg, times)
    dense = _dense(seg, times)
    got = np.zeros_like(dense)
    got[index, when] = held
    assert np.allclose(got, dense)
    group = rng.integers(0, 3, 60)
    fine = np.arange(-20.0, 140.0, 0.001)
    peaks = max_of_sum(seg, group, 4)
    for g in range(3):
        sampled = _dense(seg.take(np.flatnonzero(group == g)), fine).sum(axis=0).max()
        assert sampled <= peaks[g] + 1e-6
        assert peaks[g] == pytest.approx(sampled, rel=1e-3)
    assert peaks[3] == 0.0


def test_counters_count_events_strictly_before_each_scrape_and_restart_at_zero() -> None:
    bank = CounterBank()
    scrapes = np.array([0.0, 15.0, 30.0])
    events = np.array([-5.0, 0.0, 14.9, 15.0, 31.0])
    rows = np.zeros(5, dtype=np.int64)
    assert bank.values(scrapes, events, rows, 1)[0].tolist() == [1.0, 3.0, 4.0]
    # Next chunk: carried over (the event at 31 counts from the next scrape); a reset at 50 restarts.
    later = np.array([45.0, 60.0, 75.0])
    values = bank.values(later, np.array([40.0, 52.0, 61.0]), np.zeros(3, dtype=np.int64), 1, resets=[50.0])
    assert values[0].tolist() == [6.0, 1.0, 2.0]
    histogram = HistogramBank((1.0, 10.0))
    cumulative, sums = histogram.values(scrapes, np.array([1.0, 2.0, 20.0]), np.zeros(3, dtype=np.int64), 1,
                                        np.array([0.5, 1.0, 50.0]))  # fmt: skip
    assert cumulative[0, :, -1].tolist() == [2, 2, 3] and sums[0, -1] == 51.5
