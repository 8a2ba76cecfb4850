"""``GET /v1/incidents``: recovery incidents, pools down or reloading while their GPUs were paid for.

Cluster-wide, like the pool routes: the ``finance`` scope (and ``admin``). Money is integer micro-USD.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from attribution.api.auth import FinanceDep
from attribution.api.deps import SessionDep, SettingsDep, WindowQuery
from attribution.api.params import PoolQuery
from attribution.reports.incidents import incident_list
from attribution.reports.insights_render import plain

router = APIRouter(tags=["insights"])


class IncidentOut(BaseModel):
    pool: str
    start: str = Field(description="first down interval's start, RFC 3339 UTC (inclusive)")
    end: str = Field(description="last down interval's end (exclusive)")
    duration_seconds: int
    cause: str = Field(
        description="signals seen, comma-separated: engine_absent, kv_capacity_zero, reloading"
    )
    gpu_count: int
    gpus: list[str] = Field(description="UUIDs of the pool's GPUs during the incident")
    cost_usd_micros: int = Field(description="the pool's cost in the incident's intervals")


class IncidentsOut(BaseModel):
    start: str
    end: str
    pool: str | None
    incidents: list[IncidentOut]
    total_cost_usd_micros: int


@router.get("/v1/incidents", response_model=IncidentsOut)
def list_incidents(
    _: FinanceDep,
    session: SessionDep,
    settings: SettingsDep,
    asked: WindowQuery,
    pool: PoolQuery = None,
) -> IncidentsOut:
    """The incidents overlapping the window (whole, not cut at its edges), by start, with their cost."""
    s, e = asked.resolve(settings)
    return IncidentsOut.model_validate(plain(incident_list(session, s, e, pool)))
