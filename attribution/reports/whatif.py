"""What-if right-sizing of a pool from a window's measured load (issue 18, item 4).

Reads the window's load from the store (SQL aggregates): the pool's GPU type (the type most of its GPU
samples carry), replicas (mean GPUs over the configured tensor-parallel size), KV bytes per token and KV
capacity per replica as the engines reported them, the peak pool-wide KV tokens and requests running in
one interval, and each tier's attributed cost and tokens. Then asks :mod:`attribution.model.whatif` for
the current deployment and the changed one, each priced from ``gpu_prices``. The assumptions behind the
answer travel with it (:attr:`WhatIfReport.assumptions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from attribution.catalog.models import KV_DTYPE_BYTES
from attribution.config import PoolConfig, Settings
from attribution.errors import AttributionError
from attribution.model.whatif import FIT_RATIO, Deployment, MeasuredLoad, NonKv, WhatIf, answer, calibrate
from attribution.reports.efficiency import configured_pool
from attribution.store.lines import pool_tier_cost_and_tokens
from attribution.store.pools import pool_gpu_intervals_and_cost, pool_load

GIB = 1024**3
#: vLLM's default gpu_memory_utilization: the engine leaves 1 - 0.9 of each GPU unused. Without a measured
#: capacity, also 6 GiB per GPU of activations and CUDA/NCCL context (the simulator's figure).
DEFAULT_MEMORY_UTILISATION = Decimal("0.9")
DEFAULT_RESERVE_BYTES_PER_GPU = 6 * GIB


class WhatIfError(AttributionError):
    status_code = 422
    code = "invalid_what_if"


@dataclass(frozen=True, slots=True)
class Change:
    """What to change; None keeps the pool's current value."""

    kv_dtype: str | None = None
    replicas: int | None = None
    gpu_type: str | None = None
    tensor_parallel: int | None = None


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    pool: str
    start: datetime
    end: datetime
    load: MeasuredLoad
    current: WhatIf
    proposed: WhatIf
    measured_cost_usd_micros: int
    assumptions: list[str] = field(default_factory=list)


def _price(settings: Settings, gpu_type: str, at: datetime) -> int:
    prices = sorted(
        (p for p in settings.gpu_prices if p.gpu_type == gpu_type and p.effective_from < at),
        key=lambda p: p.effective_from,
    )
    if not prices:
        raise WhatIfError(
            f"GPU type {gpu_type!r} has no price in gpu_prices; "
            "add a gpu_prices entry (gpu_type, usd_per_gpu_hour) for it"
        )
    # a derived price's figure is that of at's month (capex stops when the purchase is depreciated)
    return prices[-1].indicative_usd_micros_per_gpu_hour(int(at.timestamp()))


@dataclass(frozen=True, slots=True)
class Facts:
    """The window's raw figures: the GPU type most samples carry, the pool-wide peaks of interval means
    (KV tokens in use, requests running), KV bytes per token and mean KV capacity bytes per engine."""

    gpu_type: str | None
    peak_kv_tokens: float | None
    peak_requests_running: float | None
    kv_bytes_per_token: int | None
    kv_capacity_bytes: float | None


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _window(session: Session, pool: str, start: datetime, end: datetime) -> Facts:
    gpu_type, peak, kv = pool_load(session, pool, start, end)
    return Facts(
        None if gpu_type is None else str(gpu_type),
        _num(peak[0]),
        _num(peak[1]),
        None if kv[0] is None else int(kv[0]),
        _num(kv[1]),
    )


def measured_load(
    session: Session, settings: Settings, config: PoolConfig, start: datetime, end: datetime
) -> tuple[MeasuredLoad, Facts, int, int]:
    """The load, the window's facts, the replicas (mean GPUs over tensor-parallel size) and its cost."""
    pool = config.name
    facts = _window(session, pool, start, end)
    count, gpus, cost = pool_gpu_intervals_and_cost(session, pool, start, end)
    if not count or facts.gpu_type is None:
        raise WhatIfError(
            f"pool {pool!r} has no attributed cost or GPU samples in the window; pick a window it ran in"
        )
    tiers = pool_tier_cost_and_tokens(session, pool, start, end, settings.tiers.names)
    replicas = max(1, round(int(gpus) / int(count) / config.tensor_parallel_size))
    load = MeasuredLoad(
        window_seconds=int((end - start).total_seconds()),
        peak_kv_tokens=round(facts.peak_kv_tokens or 0),
        peak_requests_running=None
        if facts.peak_requests_running is None
        else round(facts.peak_requests_running),
        max_num_seqs=config.max_num_seqs,
        tier_cost_usd_micros={str(t): int(c) for t, c, _ in tiers},
        tier_tokens={str(t): int(n) for t, _, n in tiers},
    )
    return load, facts, replicas, int(cost)


def _dtype_of(bytes_per_token: int | None, per_byte: int) -> str:
    """The KV dtype the engines ran: ``fp8`` when one byte per element explains the measured figure."""
    return "fp8" if bytes_per_token == per_byte else "auto"


def weight_dtype_bytes(memory_bytes: int, params: int, capacity_bytes: int | None) -> int:
    """2 (BF16) unless BF16 weights and the measured KV capacity could not fit in the replica's memory,
    then 1 (FP8): the pool config does not name the weights' dtype, the engine's memory does."""
    if capacity_bytes is not None and memory_bytes - 2 * params - capacity_bytes < 0:
        return 1
    return 2


def _deployment(
    config: PoolConfig,
    settings: Settings,
    gpu_type: str,
    tp: int,
    replicas: int,
    dtype: str,
    at: datetime,
    weight_bytes: int = 2,
) -> Deployment:
    model = settings.catalog.model(config.model)
    gpus = settings.catalog.gpus
    if gpu_type not in gpus:
        raise WhatIfError(f"unknown GPU type {gpu_type!r}; known: {', '.join(sorted(gpus))}")
    if dtype not in KV_DTYPE_BYTES:
        raise WhatIfError(f"unknown KV dtype {dtype!r}; known: {', '.join(sorted(KV_DTYPE_BYTES))}")
    if tp < 1 or replicas < 1 or model.attention_heads % tp:
        raise WhatIfError(
            f"tensor-parallel size {tp} and replicas {replicas}: both must be >= 1 and the tensor-parallel "
            f"size must divide the model's {model.attention_heads} attention heads"
        )
    return Deployment(
        gpu_type=gpu_type,
        gpu_memory_bytes=gpus[gpu_type].memory_bytes,
        usd_micros_per_gpu_hour=_price(settings, gpu_type, at),
        tensor_parallel=tp,
        replicas=replicas,
        kv_dtype=dtype,
        kv_bytes_per_token=model.kv_bytes_per_token_for(dtype, tp),
        weights_bytes=0 if model.params is None else model.weights_bytes(weight_bytes),
    )


def _as_run(
    settings: Settings, config: PoolConfig, facts: Facts, replicas: int, end: datetime
) -> tuple[Deployment, NonKv, list[str]]:
    """The deployment as it ran, the non-KV bytes per GPU it implies, and the assumptions behind both."""
    gpu_type, bpt, capacity = str(facts.gpu_type), facts.kv_bytes_per_token, facts.kv_capacity_bytes
    model = settings.catalog.model(config.model)
    tp = config.tensor_parallel_size
    dtype = _dtype_of(bpt, model.kv_bytes_per_token(1, tp))
    measured = None if capacity is None or bpt is None else int(capacity)
    gpus = settings.catalog.gpus
    memory = gpus[gpu_type].memory_bytes * tp if gpu_type in gpus else 0
    weight_bytes = weight_dtype_bytes(memory, model.params or 0, measured)
    current = _deployment(config, settings, gpu_type, tp, replicas, dtype, end, weight_bytes)
    notes = [
        f"load: peak KV tokens and requests running are interval means ({settings.interval_seconds} s)"
        " summed over the pool's engines, spread evenly over replicas",
        f"weights: {current.weights_bytes / GIB:.1f} GiB ({'BF16' if weight_bytes == 2 else 'FP8'})"
        " per replica, split over its GPUs"
        if model.params is not None
        else "weights: no parameter count in the catalog; they count as non-KV memory",
        "cost: GPU-hours at the gpu_prices in effect at the window's end; a month is 730 hours",
        "per tier: the window's cost falls on the tiers as their attributed cost did",
        f"batch: at most max_num_seqs = {config.max_num_seqs} requests running per replica",
        f"fit: the peak fits a replica at most {FIT_RATIO} full (bursts inside an interval go higher)",
    ]
    unused = 1 - DEFAULT_MEMORY_UTILISATION
    if measured is None:
        notes.append("memory: no measured KV capacity; gpu_memory_utilization 0.9 and 6 GiB reserve per GPU")
        return current, NonKv(unused, DEFAULT_RESERVE_BYTES_PER_GPU), notes
    non_kv = calibrate(current, measured, unused)
    notes.append(
        f"memory: each GPU keeps {unused} of its memory unused (vLLM's default gpu_memory_utilization 0.9)"
        f" and {non_kv.reserve_bytes_per_gpu / GIB:.2f} GiB of reserve, as the measured KV capacity implies"
    )
    return replace(current, kv_bytes_per_token=bpt or current.kv_bytes_per_token), non_kv, notes


def what_if(
    session: Session, settings: Settings, pool: str, start: datetime, end: datetime, change: Change
) -> WhatIfReport:
    """The pool as it ran in ``[start, end)`` and as ``change`` would run it, against the same load."""
    config = configured_pool(settings, pool)
    model = settings.catalog.model(config.model)
    if model.params is None and (change.gpu_type is not None or change.tensor_parallel is not None):
        raise WhatIfError(
            f"model {config.model!r} has no parameter count in the catalog, so its weights cannot be placed"
            " on another GPU type or tensor-parallel size; declare params for it (docs/catalog.md)"
        )
    load, facts, replicas, cost = measured_load(session, settings, config, start, end)
    current, non_kv, notes = _as_run(settings, config, facts, replicas, end)
    tp = config.tensor_parallel_size
    proposed = _deployment(
        config,
        settings,
        change.gpu_type or current.gpu_type,
        change.tensor_parallel or tp,
        change.replicas or replicas,
        change.kv_dtype or current.kv_dtype,
        end,
        current.weights_bytes // model.params if model.params else 2,  # the weights' dtype as run
    )
    # the catalog's ratio carries the measured bytes per token to the proposed dtype and tensor-parallel size
    catalog_now = model.kv_bytes_per_token_for(current.kv_dtype, tp)
    scaled = current.kv_bytes_per_token * proposed.kv_bytes_per_token // catalog_now
    proposed = replace(proposed, kv_bytes_per_token=max(1, scaled))
    return WhatIfReport(
        pool=pool,
        start=start,
        end=end,
        load=load,
        current=answer(current, load, non_kv),
        proposed=answer(proposed, load, non_kv),
        measured_cost_usd_micros=cost,
        assumptions=notes,
    )
