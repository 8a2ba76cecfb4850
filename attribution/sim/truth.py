"""Ground truth for a run, written as the chunks go: what an exact attribution of [start, end) must find.

* ``truth_intervals.csv``: per aligned interval and (pool, tenant, tier) with any activity: requests,
  prompt and generated tokens (counted at completion), ``kv_token_seconds`` (the exact integral of held
  tokens inside the interval, in-flight requests included) and ``failed_requests`` (requests lost when an
  engine died, or refused while it was down, counted when they failed; their KV time is in
  ``kv_token_seconds``).
* ``truth_pool_intervals.csv``: per pool and interval, KV token-seconds and the exact time-weighted mean of
  blocks in use / usable blocks, the quantity vLLM's ``kv_cache_usage_perc`` samples.
* ``truth.json`` (at the end): the window, the pools' KV geometry, and per (pool, tenant, tier) totals
  over the window; ``max_kv_tokens_held`` is the supremum of the group's held tokens over the window, which
  bounds what reading a counter one scrape late can misattribute (at most max held x scrape interval).

Rows are ordered by interval, then pool, tenant, tier (the spec's order).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from attribution.catalog import get_gpu
from attribution.sim.chunk import Chunk, SimContext
from attribution.sim.cluster import PoolSpec
from attribution.sim.hardware import MIG_PROFILES
from attribution.sim.integrate import integrate_blocks, integrate_tokens, max_of_sum
from attribution.sim.workload import FloatArray

INTERVAL_HEADER = ",".join(
    ("interval_start", "pool", "tenant", "tier", "requests", "prompt_tokens", "generation_tokens",
     "kv_token_seconds", "failed_requests")
)  # fmt: skip
POOL_HEADER = "interval_start,pool,kv_token_seconds,mean_kv_usage_ratio"
COLUMNS = ("requests", "prompt_tokens", "generation_tokens", "failed_requests")


def iso_utc(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TruthWriter:
    """Feed it every chunk inside the window, in order; ``close`` writes ``truth.json``."""

    def __init__(
        self, context: SimContext, out_dir: Path, window_seconds: int, interval_seconds: int
    ) -> None:
        spec = context.spec
        self.context, self.window, self.interval = context, window_seconds, interval_seconds
        self.n_tiers = context.n_tiers
        self.n_groups = len(spec.tenants) * self.n_tiers
        self.paths = (
            out_dir / "truth.json",
            out_dir / "truth_intervals.csv",
            out_dir / "truth_pool_intervals.csv",
        )
        pool_index = {pool.name: i for i, pool in enumerate(spec.pools)}
        keyed = sorted(
            (pool_index[t.pool], i, tier) for i, t in enumerate(spec.tenants) for tier in range(self.n_tiers)
        )
        self.order = np.array([i * self.n_tiers + tier for _, i, tier in keyed], dtype=np.int64)
        names = context.tier_names
        self.prefix = [
            f"{spec.tenants[g // self.n_tiers].pool},{spec.tenants[g // self.n_tiers].name},"
            f"{names[g % self.n_tiers]}"
            for g in range(self.n_groups)
        ]
        self.totals = {c: np.zeros(self.n_groups, dtype=np.int64) for c in COLUMNS}
        self.kv_total = np.zeros(self.n_groups, dtype=np.float64)
        self.peak = np.zeros(self.n_groups, dtype=np.float64)
        self._intervals: TextIO = self.paths[1].open("w", encoding="utf-8", newline="\n")
        self._pools: TextIO = self.paths[2].open("w", encoding="utf-8", newline="\n")
        self._intervals.write(INTERVAL_HEADER + "\n")
        self._pools.write(POOL_HEADER + "\n")

    def add(self, chunk: Chunk) -> None:
        """A chunk inside the window whose ends are multiples of ``interval_seconds`` after its start."""
        edges = np.arange(chunk.begin, chunk.end + self.interval / 2, self.interval, dtype=np.float64)
        cells = self._group_cells(chunk, edges)
        for column in COLUMNS:
            self.totals[column] += cells[column].sum(axis=1).astype(np.int64)
        kv = cells["kv_token_seconds"]
        self.kv_total += kv.sum(axis=1)
        self.peak = np.maximum(self.peak, max_of_sum(chunk.pieces, chunk.pieces.group, self.n_groups))
        self._write_intervals(edges, cells)
        self._write_pools(chunk, edges)

    def _group_cells(self, chunk: Chunk, edges: FloatArray) -> dict[str, np.ndarray]:
        n, cells = self.n_groups, edges.size - 1
        done = chunk.completions

        def count(times: FloatArray, groups: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
            cell = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, cells - 1)
            flat = np.bincount(groups * cells + cell, weights=weights, minlength=n * cells)
            return np.rint(flat).astype(np.int64).reshape(n, cells)

        f = np.float64
        return {
            "requests": count(done.finish, done.group, None),
            "prompt_tokens": count(done.finish, done.group, done.prompt.astype(f)),
            "generation_tokens": count(done.finish, done.group, done.output.astype(f)),
            "failed_requests": count(chunk.failure_time, chunk.failure_group, None),
            "kv_token_seconds": integrate_tokens(chunk.pieces, chunk.pieces.group, n, edges),
        }

    def _write_intervals(self, edges: FloatArray, cells: dict[str, np.ndarray]) -> None:
        start = self.context.start_unix_seconds
        kv = cells["kv_token_seconds"]
        active = (kv > 0) | (cells["requests"] > 0) | (cells["failed_requests"] > 0)
        columns = [cells[c].tolist() for c in ("requests", "prompt_tokens", "generation_tokens")]
        failed = cells["failed_requests"].tolist()
        kv_rows = kv.tolist()
        lines = []
        for c in range(edges.size - 1):
            stamp = iso_utc(start + round(edges[c]))
            for g in self.order[active[self.order, c]].tolist():
                lines.append(
                    f"{stamp},{self.prefix[g]},{columns[0][g][c]},{columns[1][g][c]},{columns[2][g][c]},"
                    f"{kv_rows[g][c]!r},{failed[g][c]}\n"
                )
        self._intervals.write("".join(lines))

    def _write_pools(self, chunk: Chunk, edges: FloatArray) -> None:
        pools, pieces = self.context.spec.pools, chunk.pieces
        block_size = np.array([p.block_size for p in pools], dtype=np.float64)[pieces.pool]
        tokens = integrate_tokens(pieces, pieces.pool, len(pools), edges)
        blocks = integrate_blocks(pieces, pieces.pool, len(pools), edges, block_size)
        widths = np.diff(edges)
        start = self.context.start_unix_seconds
        lines = []
        for c in range(edges.size - 1):
            stamp = iso_utc(start + round(edges[c]))
            for p, pool in enumerate(pools):
                usage = float(blocks[p, c] / (widths[c] * pool.usable_blocks))
                lines.append(f"{stamp},{pool.name},{float(tokens[p, c])!r},{usage!r}\n")
        self._pools.write("".join(lines))

    def close(self) -> tuple[Path, Path, Path]:
        self._intervals.close()
        self._pools.close()
        self.paths[0].write_text(json.dumps(self._document(), indent=2) + "\n", encoding="utf-8")
        return self.paths

    @property
    def completed_requests(self) -> int:
        return int(self.totals["requests"].sum())

    def _document(self) -> dict[str, object]:
        spec, context = self.context.spec, self.context
        totals = []
        for g in self.order.tolist():
            requests, kv = int(self.totals["requests"][g]), float(self.kv_total[g])
            failed = int(self.totals["failed_requests"][g])
            if requests == 0 and kv == 0.0 and failed == 0:
                continue
            tenant = spec.tenants[g // self.n_tiers]
            totals.append(
                {
                    "pool": tenant.pool,
                    "tenant": tenant.name,
                    "tier": context.tier_names[g % self.n_tiers],
                    "requests": requests,
                    "prompt_tokens": int(self.totals["prompt_tokens"][g]),
                    "generation_tokens": int(self.totals["generation_tokens"][g]),
                    "kv_token_seconds": kv,
                    "max_kv_tokens_held": float(self.peak[g]),
                    "failed_requests": failed,
                }
            )
        start = context.start_unix_seconds
        return {
            "start": iso_utc(start),
            "end": iso_utc(start + self.window),
            "interval_seconds": self.interval,
            "scrape_interval_seconds": spec.scrape_interval_seconds,
            "scrape_offset_seconds": spec.scrape_offset_seconds,
            "tiers": list(context.tier_names),
            "tier_boundaries_tokens": list(context.tier_boundaries_tokens),
            "pools": [
                {
                    "pool": pool.name,
                    "served_model_name": pool.served_model_name,
                    "model_key": pool.model_key,
                    "gpu_key": pool.gpu_key,
                    "gpus": pool.gpus,
                    "engine": pool.engine,
                    "kv_bytes_per_token": pool.kv_bytes_per_token,
                    "kv_capacity_tokens": pool.kv_capacity_tokens,
                    "num_gpu_blocks": pool.num_gpu_blocks,
                    "block_size": pool.block_size,
                    "memory_bytes": pool.memory_bytes,
                    **_gpu_share(pool),
                    "outages": [
                        {
                            "start": iso_utc(start + round(o.at_seconds)),
                            "down_seconds": o.down_seconds,
                            "mode": o.mode,
                        }
                        for o in pool.outages
                    ],
                }
                for pool in spec.pools
            ],
            "unallocated_gpus": dict(spec.unallocated_gpus),
            "totals": totals,
        }


def _gpu_share(pool: PoolSpec) -> dict[str, object]:
    """For a pool on part of a GPU: what it should be billed for, as a fraction of the GPU (``share``,
    numerator and denominator): a MIG instance's memory slices, or a time-sliced engine's FB_USED while it
    serves (``gpu_memory_utilization`` x the GPU's MiB, rounded as the exporter reports it)."""
    if pool.gpu_group is None:
        return {}
    if pool.mig_profile is not None:
        slices, total = MIG_PROFILES[(pool.gpu_key, pool.mig_profile)]
        return {"gpu_group": pool.gpu_group, "mig_profile": pool.mig_profile, "gpu_share": [slices, total]}
    total_mib = get_gpu(pool.gpu_key).fb_total_mib
    used_mib = round(pool.gpu_memory_utilization * total_mib)
    return {"gpu_group": pool.gpu_group, "gpu_share": [used_mib, total_mib]}
