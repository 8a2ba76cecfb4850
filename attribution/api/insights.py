"""Where a pool's money goes and what would make it cheaper: efficiency per day, cost structure, what-if.

Pool routes like ``/v1/pools/{pool}``: cluster-wide figures for the ``finance`` scope (and ``admin``); a
tenant key gets what it gets on every pool route. Money is integer micro-USD; rates, shares and prices per
1M tokens are decimal strings (exact, no floats).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from attribution.api.auth import FinanceDep
from attribution.api.cluster import PoolPath
from attribution.api.deps import SessionDep, SettingsDep, WindowQuery
from attribution.catalog.models import KV_DTYPE_BYTES
from attribution.reports.efficiency import efficiency
from attribution.reports.insights_render import plain
from attribution.reports.whatif import Change, what_if

router = APIRouter(tags=["insights"])
Dec = str | None


class EfficiencyDayOut(BaseModel):
    start: str
    end: str
    intervals: int
    gpu_seconds: int
    cost_usd_micros: int
    tokens: int
    requests: int
    kv_usage_ratio: Dec = Field(description="KV bytes in use over KV capacity")
    batch_occupancy: Dec = Field(description="mean requests running per engine over max_num_seqs")
    tokens_per_gpu_second: Dec
    gpu_util_percent: Dec = Field(
        description="dcgm GPU_UTIL mean over the pool's GPUs; null if not collected"
    )
    occupancy_basis: str | None = Field(description="batch, kv (batch occupancy not collected) or null")
    headroom_usd_micros: int = Field(description="cost of the capacity below the target occupancy")
    usd_per_million_tokens: Dec
    usd_per_million_tokens_at_target: Dec
    headroom_usd_per_million_tokens: Dec


class CostStructureOut(BaseModel):
    cost_usd_micros: int
    tokens_usd_micros: int = Field(description="KV in use: the part that served tokens")
    memory_usd_micros: int = Field(description="static: weights, activations, runtime reserve")
    idle_usd_micros: int = Field(description="KV free: headroom; tokens + memory + idle + recovery = cost")
    settled_idle_usd_micros: int = Field(description="idle as settled: KV free plus static nobody used")
    unmeasured_usd_micros: int
    long_context_usd_micros: int = Field(description="lines of the tiers starting at 32k tokens or more")
    long_context_tiers: list[str]
    tokens_share: Dec
    memory_share: Dec
    idle_share: Dec
    settled_idle_share: Dec
    unmeasured_share: Dec
    long_context_share: Dec
    recovery_usd_micros: int = Field(0, description="intervals inside recovery incidents")
    recovery_share: Dec = None


class EfficiencyOut(BaseModel):
    pool: str
    start: str
    end: str
    max_num_seqs: int
    target_occupancy: str
    days: list[EfficiencyDayOut]
    structure: CostStructureOut


class DeploymentOut(BaseModel):
    gpu_type: str
    gpu_memory_bytes: int
    usd_micros_per_gpu_hour: int
    tensor_parallel: int
    replicas: int
    kv_dtype: str
    kv_bytes_per_token: int
    weights_bytes: int


class WhatIfOut(BaseModel):
    deployment: DeploymentOut
    gpus: int
    usd_micros_per_month: int = Field(description="GPUs x price x 730 hours")
    window_cost_usd_micros: int
    kv_capacity_bytes_per_replica: int
    kv_capacity_tokens_per_replica: int
    peak_kv_tokens_per_replica: int
    peak_kv_bytes_per_replica: int
    kv_peak_ratio: Dec = Field(description="peak KV demand per replica over its KV capacity")
    kv_fits: bool = Field(description="the measured peak KV demand is at most 0.9 of a replica's KV capacity")
    peak_requests_per_replica: int | None
    batch_fits: bool | None = Field(description="peak requests running per replica within max_num_seqs")
    tier_cost_usd_micros: dict[str, int]
    usd_per_million_tokens: dict[str, Dec]
    usd_per_million_tokens_all: Dec


class LoadOut(BaseModel):
    window_seconds: int
    peak_kv_tokens: int
    peak_requests_running: int | None
    max_num_seqs: int
    tier_cost_usd_micros: dict[str, int]
    tier_tokens: dict[str, int]


class WhatIfReportOut(BaseModel):
    pool: str
    start: str
    end: str
    load: LoadOut
    current: WhatIfOut
    proposed: WhatIfOut
    measured_cost_usd_micros: int
    assumptions: list[str]


@router.get("/v1/pools/{pool}/efficiency", response_model=EfficiencyOut)
def pool_efficiency(
    pool: PoolPath,
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    asked: WindowQuery,
) -> EfficiencyOut:
    """KV use, batch occupancy, tokens per GPU-second, GPU utilisation and the cost of headroom per UTC
    day; the pool's cost as tokens, memory, idle and long context over the window."""
    s, e = asked.resolve(settings)
    return EfficiencyOut.model_validate(plain(efficiency(session, settings, pool, s, e)))


@router.get("/v1/pools/{pool}/what-if", response_model=WhatIfReportOut)
def pool_what_if(
    pool: PoolPath,
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    asked: WindowQuery,
    kv_dtype: Annotated[
        str | None, Query(max_length=20, description=", ".join(sorted(KV_DTYPE_BYTES)))
    ] = None,
    replicas: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    gpu_type: Annotated[
        str | None, Query(max_length=100, description="a GPU type with a gpu_prices entry")
    ] = None,
    tp: Annotated[int | None, Query(ge=1, le=64, description="tensor-parallel size")] = None,
) -> WhatIfReportOut:
    """The pool as it ran in the window and as the change would run it, against the same measured load:
    GPUs, cost per month, cost per 1M tokens per tier, whether the peak KV demand fits; assumptions."""
    s, e = asked.resolve(settings)
    report = what_if(session, settings, pool, s, e, Change(kv_dtype, replicas, gpu_type, tp))
    return WhatIfReportOut.model_validate(plain(report))
