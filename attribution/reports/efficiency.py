"""A pool's efficiency per UTC day, and its cost structure over the window.

Per day: KV-cache use (KV bytes in use over capacity), batch occupancy (mean requests running per engine
over the pool's ``max_num_seqs``), tokens per GPU-second, GPU utilisation (dcgm ``DCGM_FI_DEV_GPU_UTIL``
as collected), and the cost of headroom against the pool's ``target_occupancy``
(:mod:`attribution.model.efficiency`). Occupancy is batch occupancy where the engines report requests
running, else KV use; ``occupancy_basis`` names which.

Cost structure (issue 18, item 5): the pool's cost as tokens (KV in use), memory (static: weights,
activations, reserve), idle (KV free) and recovery (intervals inside a recovery incident), which partition
it exactly; plus, as cuts of the same total,
the idle as settled (free KV plus static of intervals nobody used), unmeasured, and the long-context
tiers' lines (tiers starting at 32k tokens or more).

Every figure is an SQL aggregate over the stored rows (``pool_costs``, ``attributed_costs``,
``kv_samples``, ``gpu_samples``), one query per table and day. Money is integer micro-USD; shares and
rates are ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy.orm import Session

from attribution.config import PoolConfig, Settings
from attribution.errors import NotFoundError
from attribution.model.efficiency import headroom
from attribution.store.lines import pool_cost_of_tiers, pool_usage
from attribution.store.pools import pool_cost_parts, pool_day

LONG_CONTEXT_TOKENS = 32 * 1024
RATIO = Decimal("0.000001")
DAY = timedelta(days=1)


def ratio(part: int | float | Decimal, whole: int | float | Decimal) -> Decimal | None:
    """``part / whole`` to six decimal places (half-even); None when the whole is zero."""
    if not whole:
        return None
    return (Decimal(str(part)) / Decimal(str(whole))).quantize(RATIO, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class EfficiencyDay:
    start: datetime
    end: datetime
    intervals: int
    gpu_seconds: int
    cost_usd_micros: int
    tokens: int
    requests: int
    kv_usage_ratio: Decimal | None
    batch_occupancy: Decimal | None
    """Mean requests running per engine over ``max_num_seqs``; None where no engine reported it."""
    tokens_per_gpu_second: Decimal | None
    gpu_util_percent: Decimal | None
    """dcgm's GPU_UTIL averaged over the pool's GPU samples; None where not collected."""
    occupancy_basis: str | None
    """``batch``, ``kv`` (batch occupancy missing) or None (neither measured)."""
    headroom_usd_micros: int
    usd_per_million_tokens: Decimal | None
    usd_per_million_tokens_at_target: Decimal | None
    headroom_usd_per_million_tokens: Decimal | None


@dataclass(frozen=True, slots=True)
class CostStructure:
    cost_usd_micros: int
    tokens_usd_micros: int
    memory_usd_micros: int
    idle_usd_micros: int
    settled_idle_usd_micros: int
    unmeasured_usd_micros: int
    long_context_usd_micros: int
    long_context_tiers: list[str]
    tokens_share: Decimal | None
    memory_share: Decimal | None
    idle_share: Decimal | None
    settled_idle_share: Decimal | None
    unmeasured_share: Decimal | None
    long_context_share: Decimal | None
    recovery_usd_micros: int = 0
    """Intervals inside recovery incidents: with tokens, memory and idle, the pool's cost exactly."""
    recovery_share: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Efficiency:
    pool: str
    start: datetime
    end: datetime
    max_num_seqs: int
    target_occupancy: Decimal
    days: list[EfficiencyDay]
    structure: CostStructure


def configured_pool(settings: Settings, pool: str) -> PoolConfig:
    """The pool's settings; a pool not configured is a 404 (these views need its model and limits)."""
    for p in settings.pools:
        if p.name == pool:
            return p
    raise NotFoundError(f"no configured pool named {pool!r}; these views need its [[pools]] entry")


def long_context_tiers(names: list[str], boundaries_tokens: list[int]) -> list[str]:
    """The tiers whose lower edge is at least 32k tokens (``names`` as ``tier_names`` gives them)."""
    edges = [0, *boundaries_tokens]
    return [name for name, low in zip(names, edges, strict=True) if low >= LONG_CONTEXT_TOKENS]


def _day_row(session: Session, pool: str, s: datetime, e: datetime) -> dict[str, Any]:
    """The day's sums for the pool: its costs and samples, and its lines' tokens and requests."""
    tokens, requests = pool_usage(session, pool, s, e)
    return {**pool_day(session, pool, s, e), "tokens": tokens, "requests": requests}


def _day(
    row: dict[str, Any], s: datetime, e: datetime, settings: Settings, seqs: int, target: Decimal
) -> EfficiencyDay:
    gpu_seconds = row["gpu_intervals"] * settings.interval_seconds
    kv_use = ratio(row["in_use"], row["capacity"])
    batch = None if row["running"] is None else ratio(row["running"], seqs)
    occupancy, basis = (
        (batch, "batch") if batch is not None else (kv_use, "kv" if kv_use is not None else None)
    )
    room = headroom(row["cost"], row["tokens"], occupancy, target)
    util = row["util"]
    return EfficiencyDay(
        start=s,
        end=e,
        intervals=row["intervals"],
        gpu_seconds=gpu_seconds,
        cost_usd_micros=row["cost"],
        tokens=row["tokens"],
        requests=row["requests"],
        kv_usage_ratio=kv_use,
        batch_occupancy=batch,
        tokens_per_gpu_second=ratio(row["tokens"], gpu_seconds),
        gpu_util_percent=None if util is None else Decimal(str(util)).quantize(Decimal("0.01")),
        occupancy_basis=basis,
        headroom_usd_micros=room.headroom_usd_micros,
        usd_per_million_tokens=room.usd_per_million_tokens,
        usd_per_million_tokens_at_target=room.usd_per_million_tokens_at_target,
        headroom_usd_per_million_tokens=room.headroom_usd_per_million_tokens,
    )


def days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """UTC calendar days cut to ``[start, end)``; the first and last may be partial."""
    out = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        out.append((max(day, start), min(day + DAY, end)))
        day += DAY
    return out


def cost_structure(
    session: Session, settings: Settings, pool: str, start: datetime, end: datetime
) -> CostStructure:
    """The pool's cost over the window as tokens, memory and idle (an exact partition), and its cuts."""
    cost, tokens, memory, free, idle, unmeasured, recovery = pool_cost_parts(session, pool, start, end)
    tiers = long_context_tiers(settings.tiers.names, settings.tiers.boundaries_tokens)
    long_ctx = pool_cost_of_tiers(session, pool, start, end, tiers)
    return CostStructure(
        cost_usd_micros=cost,
        tokens_usd_micros=tokens,
        memory_usd_micros=memory,
        idle_usd_micros=free,
        settled_idle_usd_micros=idle,
        unmeasured_usd_micros=unmeasured,
        long_context_usd_micros=long_ctx,
        long_context_tiers=tiers,
        tokens_share=ratio(tokens, cost),
        memory_share=ratio(memory, cost),
        idle_share=ratio(free, cost),
        settled_idle_share=ratio(idle, cost),
        unmeasured_share=ratio(unmeasured, cost),
        long_context_share=ratio(long_ctx, cost),
        recovery_usd_micros=recovery,
        recovery_share=ratio(recovery, cost),
    )


def efficiency(session: Session, settings: Settings, pool: str, start: datetime, end: datetime) -> Efficiency:
    """The pool's efficiency per UTC day of ``[start, end)`` and its cost structure over the window."""
    config = configured_pool(settings, pool)
    target = Decimal(config.target_occupancy)
    out = [
        _day(_day_row(session, pool, s, e), s, e, settings, config.max_num_seqs, target)
        for s, e in days(start, end)
    ]
    return Efficiency(
        pool=pool,
        start=start,
        end=end,
        max_num_seqs=config.max_num_seqs,
        target_occupancy=target,
        days=out,
        structure=cost_structure(session, settings, pool, start, end),
    )
