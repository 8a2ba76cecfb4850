"""Ground truth for a run: what an exact attribution of the window [start, end) must find.

* ``truth.json``: the window, the pools' KV geometry, and per (pool, tenant, tier) totals over the
  window. Requests and tokens count at completion inside the window; ``kv_token_seconds`` is the exact
  integral of held tokens inside the window (in-flight requests at either edge contribute their inside
  part); ``max_kv_tokens_held`` is the supremum of the group's held tokens over the window, which bounds
  what reading a counter one scrape late can misattribute (at most max held x scrape interval).
* ``truth_intervals.csv``: the same per aligned interval, rows with activity only.
* ``truth_pool_intervals.csv``: per pool and interval, KV token-seconds and the exact time-weighted mean
  of blocks in use / (num_gpu_blocks - 1), the quantity vLLM's ``kv_cache_usage_perc`` samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from attribution.sim.integrate import integrate_blocks, integrate_tokens, max_of_sum
from attribution.sim.timeline import SimRun
from attribution.sim.workload import FloatArray, IntArray


@dataclass(frozen=True)
class TruthPaths:
    truth: Path
    intervals: Path
    pool_intervals: Path


@dataclass(frozen=True)
class _GroupCells:
    """Per tenant x tier group (rows) and interval (columns)."""

    requests: IntArray
    prompt_tokens: IntArray
    generation_tokens: IntArray
    kv_token_seconds: FloatArray


def iso_utc(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_truth(run: SimRun, out_dir: Path, interval_seconds: int) -> TruthPaths:
    edges = np.arange(0, run.window_seconds + interval_seconds, interval_seconds, dtype=np.float64)
    cells = _group_cells(run, edges, interval_seconds)
    paths = TruthPaths(
        out_dir / "truth.json",
        out_dir / "truth_intervals.csv",
        out_dir / "truth_pool_intervals.csv",
    )
    order = _group_order(run)
    _write_json(run, paths.truth, interval_seconds, cells, order)
    _write_intervals(run, paths.intervals, edges, cells, order)
    _write_pool_intervals(run, paths.pool_intervals, edges)
    return paths


def _group_cells(run: SimRun, edges: FloatArray, interval_seconds: int) -> _GroupCells:
    req = run.requests
    n_groups, n_cells = len(run.spec.tenants) * run.n_tiers, edges.size - 1
    group = run.tenant_tier_group()
    inside = (req.finish_seconds >= 0) & (req.finish_seconds < run.window_seconds)
    cell = np.floor(req.finish_seconds[inside] / interval_seconds).astype(np.int64)
    flat = group[inside] * n_cells + cell

    def count(weights: np.ndarray | None) -> IntArray:
        totals = np.bincount(flat, weights=weights, minlength=n_groups * n_cells)
        return np.rint(totals).astype(np.int64).reshape(n_groups, n_cells)

    seg = run.segments
    return _GroupCells(
        requests=count(None),
        prompt_tokens=count(req.prompt_tokens[inside].astype(np.float64)),
        generation_tokens=count(req.output_tokens[inside].astype(np.float64)),
        kv_token_seconds=integrate_tokens(seg, group[seg.request], n_groups, edges),
    )


def _group_order(run: SimRun) -> list[int]:
    """Tenant x tier groups ordered by pool, then tenant, then tier."""
    pool_index = {pool.name: i for i, pool in enumerate(run.spec.pools)}
    keyed = [
        (pool_index[tenant.pool], t, tier)
        for t, tenant in enumerate(run.spec.tenants)
        for tier in range(run.n_tiers)
    ]
    return [t * run.n_tiers + tier for _, t, tier in sorted(keyed)]


def _write_json(run: SimRun, path: Path, interval_seconds: int, cells: _GroupCells, order: list[int]) -> None:
    seg = run.segments
    n_groups = len(run.spec.tenants) * run.n_tiers
    peak = max_of_sum(seg, run.tenant_tier_group()[seg.request], n_groups, 0.0, float(run.window_seconds))
    totals = []
    for g in order:
        requests, kv = int(cells.requests[g].sum()), float(cells.kv_token_seconds[g].sum())
        if requests == 0 and kv == 0.0:
            continue
        tenant = run.spec.tenants[g // run.n_tiers]
        totals.append(
            {
                "pool": tenant.pool,
                "tenant": tenant.name,
                "tier": run.tier_names[g % run.n_tiers],
                "requests": requests,
                "prompt_tokens": int(cells.prompt_tokens[g].sum()),
                "generation_tokens": int(cells.generation_tokens[g].sum()),
                "kv_token_seconds": kv,
                "max_kv_tokens_held": float(peak[g]),
            }
        )
    document = {
        "start": iso_utc(run.start_unix_seconds),
        "end": iso_utc(run.start_unix_seconds + run.window_seconds),
        "interval_seconds": interval_seconds,
        "scrape_interval_seconds": run.spec.scrape_interval_seconds,
        "scrape_offset_seconds": run.spec.scrape_offset_seconds,
        "tiers": list(run.tier_names),
        "tier_boundaries_tokens": list(run.tier_boundaries_tokens),
        "pools": [
            {
                "pool": pool.name,
                "served_model_name": pool.served_model_name,
                "model_key": pool.model_key,
                "gpu_key": pool.gpu_key,
                "gpus": pool.gpus,
                "kv_bytes_per_token": pool.kv_bytes_per_token,
                "kv_capacity_tokens": pool.kv_capacity_tokens,
                "num_gpu_blocks": pool.num_gpu_blocks,
                "block_size": pool.block_size,
                "memory_bytes": pool.memory_bytes,
            }
            for pool in run.spec.pools
        ],
        "unallocated_gpus": dict(run.spec.unallocated_gpus),
        "totals": totals,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _write_intervals(
    run: SimRun, path: Path, edges: FloatArray, cells: _GroupCells, order: list[int]
) -> None:
    lines = ["interval_start,pool,tenant,tier,requests,prompt_tokens,generation_tokens,kv_token_seconds"]
    active = (cells.requests > 0) | (cells.kv_token_seconds > 0)
    for c in range(edges.size - 1):
        stamp = iso_utc(run.start_unix_seconds + int(edges[c]))
        for g in order:
            if not active[g, c]:
                continue
            tenant = run.spec.tenants[g // run.n_tiers]
            lines.append(
                f"{stamp},{tenant.pool},{tenant.name},{run.tier_names[g % run.n_tiers]},"
                f"{cells.requests[g, c]},{cells.prompt_tokens[g, c]},"
                f"{cells.generation_tokens[g, c]},{float(cells.kv_token_seconds[g, c])!r}"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_pool_intervals(run: SimRun, path: Path, edges: FloatArray) -> None:
    seg, pools = run.segments, run.spec.pools
    seg_pool = run.requests.pool[seg.request]
    block_size = np.array([p.block_size for p in pools], dtype=np.float64)[seg_pool]
    tokens = integrate_tokens(seg, seg_pool, len(pools), edges)
    blocks = integrate_blocks(seg, seg_pool, len(pools), edges, block_size)
    widths = np.diff(edges)
    lines = ["interval_start,pool,kv_token_seconds,mean_kv_usage_ratio"]
    for c in range(edges.size - 1):
        stamp = iso_utc(run.start_unix_seconds + int(edges[c]))
        for p, pool in enumerate(pools):
            usage = float(blocks[p, c] / (widths[c] * (pool.num_gpu_blocks - 1)))
            lines.append(f"{stamp},{pool.name},{float(tokens[p, c])!r},{usage!r}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
