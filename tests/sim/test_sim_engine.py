"""The engine allocates KV blocks as tokens grow, preempts only when the cache is full, queues FIFO."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from attribution.sim import ClusterSpec, PoolSpec, TenantProfile, demo_cluster, generate_history, scenario
from attribution.sim.chunk import Chunk
from attribution.sim.engine import PoolEngine
from attribution.sim.integrate import Pieces, sample_pieces
from attribution.sim.workload import Arrivals
from tests.support.sim_history import END, read_csv
from tests.support.sim_run import run


def blocks_at(pieces: Pieces, times: np.ndarray, block_size: float) -> np.ndarray:
    """Blocks held at each instant, counted from the pieces alone (independently of the engine)."""
    order = np.argsort(times)
    _, when, held = sample_pieces(pieces, times[order])
    counts = np.bincount(when, weights=np.ceil(held / block_size), minlength=times.size)
    out = np.empty_like(counts)
    out[order] = counts
    return out


@pytest.fixture(scope="module")
def noisy_chunks() -> list[Chunk]:
    """The noisy neighbour's burst (from 3,600 s): the 70B pool's cache fills and preempts."""
    return run(scenario("noisy-neighbour", seed=2), 3300.0, 4500.0)


def test_kv_blocks_never_exceed_the_usable_blocks(noisy_chunks: list[Chunk]) -> None:
    """Probed where blocks change: at every piece start and a nanosecond before every piece end (closer
    than that, the rounding of a crossing instant itself, ~1e-12 s, decides which side a probe is on)."""
    pool = scenario("noisy-neighbour").pools[0]
    for chunk in noisy_chunks:
        p = chunk.pieces
        probes = np.concatenate([p.start, p.end - 1e-9, chunk.preemption_time - 1e-7])
        probes = probes[(probes >= chunk.begin) & (probes < chunk.end)]
        assert blocks_at(p, probes, pool.block_size).max() <= pool.usable_blocks
        assert chunk.blocks.max() <= pool.usable_blocks


def test_preemptions_happen_only_when_the_cache_is_full(noisy_chunks: list[Chunk]) -> None:
    pool = scenario("noisy-neighbour").pools[0]
    preemptions = 0
    for chunk in noisy_chunks:
        # The engine's own account: at each preemption the running requests held or needed more blocks
        # than exist.
        assert np.all(chunk.preemption_blocks_wanted > pool.usable_blocks)
        # And from the pieces alone: just before it, the cache was full but for at most one partly used
        # block per running request.
        if chunk.preemption_time.size:
            before = blocks_at(chunk.pieces, chunk.preemption_time - 1e-7, pool.block_size)
            assert np.all(before >= pool.usable_blocks - pool.max_num_seqs)
        preemptions += chunk.preemption_time.size
    assert preemptions > 10


def test_preempted_and_waiting_requests_hold_nothing(noisy_chunks: list[Chunk]) -> None:
    """Exactly the running requests have a piece covering each scrape instant: a preempted request is
    back among the waiting and holds no KV."""
    for chunk in noisy_chunks:
        _, when, _ = sample_pieces(chunk.pieces, chunk.scrapes)
        covering = np.bincount(when, minlength=chunk.n_scrapes)
        assert np.array_equal(covering, chunk.running[0])
    assert any(chunk.waiting.max() > 0 for chunk in noisy_chunks)


def _two_request_pool() -> PoolSpec:
    """Llama-3.1-8B on one H100 with room for ~700 blocks: two 8k requests cannot both finish."""
    return PoolSpec(
        name="p", model_key="llama-3.1-8b", served_model_name="m", gpu_key="H100-SXM", gpus=1,
        weight_dtype_bytes=2, cache_dtype="auto", max_model_len=8192, gpu_memory_utilization=0.2803,
        prefill_tokens_per_second=30_000.0, decode_tokens_per_second=120.0,
    )  # fmt: skip


def test_a_preempted_request_re_prefills_what_it_had_generated() -> None:
    pool = _two_request_pool()
    assert 600 < pool.usable_blocks < 900
    engine = PoolEngine(pool, n_tiers=4, begin_seconds=0.0)
    arrivals = Arrivals(
        time=np.array([0.0, 1.0]),
        profile=np.array([0, 1]),
        tier=np.array([2, 2]),
        prompt=np.array([4000, 4000]),
        output=np.array([4000, 4000]),
        capped=np.array([False, False]),
    )
    records = engine.advance(200.0, [], arrivals)
    completions, pieces = records.table("completions"), records.table("pieces")
    assert records.table("preemptions").shape[0] >= 1
    done = {int(row[0]) // 4: row for row in completions}  # profile -> its completion
    assert done[0][9] == 0 and done[1][9] >= 1  # the victim is the later admission
    first_preemption = records.table("preemptions")[0, 0]
    b = sorted((s, e, h0, h1) for s, e, h0, h1, _, g in pieces.tolist() if int(g) // 4 == 1)
    # Admitted at 1.0: prefill ramp, then decode, cut at the preemption; nothing until re-admission.
    assert b[0][0] == 1.0 and b[0][2] == 0.0 and b[0][3] == 4000.0
    decode_start = b[1][0]
    assert b[1][1] == pytest.approx(first_preemption)
    generated = (first_preemption - decode_start) * pool.decode_tokens_per_second
    readmit, target = b[2][0], b[2][3]
    assert readmit >= done[0][5] - 1e-9  # room came back only when the other one finished
    assert b[2][2] == 0.0 and target == pytest.approx(4000 + generated)
    # Re-prefill prompt + generated tokens, then decode the rest of the output.
    rest = (4000 - generated) / pool.decode_tokens_per_second
    assert done[1][5] == pytest.approx(readmit + target / pool.prefill_tokens_per_second + rest)
    assert done[1][4] == pytest.approx(1.0 + 4000 / pool.prefill_tokens_per_second)  # first token kept


def _tight_cluster() -> ClusterSpec:
    pool = replace(_two_request_pool(), max_num_seqs=12, gpu_memory_utilization=0.35, max_model_len=32768)
    tenants = (
        TenantProfile("big", "p", 0.4, 20_000, 0.3, 400, 0.5),
        TenantProfile("small", "p", 3.0, 800, 0.6, 200, 0.7, diurnal_amplitude=1.0),
    )
    return ClusterSpec(pools=(pool,), tenants=tenants, seed=5)


def test_first_come_first_served_within_max_num_seqs() -> None:
    spec = _tight_cluster()
    chunks = run(spec, 0.0, 4 * 3600.0)
    done = [c.completions for c in chunks]
    arrival = np.concatenate([d.arrival for d in done])
    scheduled = np.concatenate([d.first_scheduled for d in done])
    order = np.argsort(arrival, kind="stable")
    assert arrival.size > 1000
    assert np.all(np.diff(scheduled[order]) >= 0)  # nobody overtakes an earlier arrival
    assert np.mean(scheduled > arrival) > 0.01
    running = np.concatenate([c.running[0] for c in chunks])
    assert running.max() <= spec.pools[0].max_num_seqs
    assert running.max() == spec.pools[0].max_num_seqs


def test_the_run_does_not_depend_on_how_it_is_cut_into_chunks(tmp_path: Path) -> None:
    spec = demo_cluster(seed=4)
    runs = []
    for chunk_seconds in (1200, 3600):
        out = tmp_path / str(chunk_seconds)
        generate_history(spec, END - timedelta(hours=2), END, out, chunk_seconds=chunk_seconds)
        runs.append(read_csv(out / "truth_intervals.csv"))
    assert len(runs[0]) == len(runs[1])
    for a, b in zip(*runs, strict=True):
        assert {k: v for k, v in a.items() if k != "kv_token_seconds"} == {
            k: v for k, v in b.items() if k != "kv_token_seconds"
        }
        assert float(a["kv_token_seconds"]) == pytest.approx(float(b["kv_token_seconds"]), rel=1e-9)


def test_engines_in_worker_processes_give_identical_files(tmp_path: Path) -> None:
    spec = scenario("restart", seed=6, at_seconds=1800.0)
    outs = []
    for workers in (0, 2):
        out = tmp_path / str(workers)
        generate_history(spec, END - timedelta(hours=1), END, out, workers=workers, include_histograms=False)
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
