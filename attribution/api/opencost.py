"""OpenCost's allocation API over our line items: ``GET /allocation`` and ``/allocation/compute`` (one
handler, as in OpenCost), with its parameters, its response and its error body; docs/opencost-api.md.

Authenticated like every other route (a reader key; a tenant key sees its own tenant only). A bad
parameter is OpenCost's 400 ``{code, data, message}``; everything else answers as our routes do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from attribution.api.auth import Principal, ReaderDep
from attribution.api.cache import LineCache
from attribution.api.deps import LinesDep, SessionDep, SettingsDep
from attribution.api.limits import Expensive
from attribution.api.opencost_schemas import OpenCostAllocationResponse, OpenCostError
from attribution.api.params import grain_seconds
from attribution.reports.lineitems import LineItem
from attribution.reports.lineset import read_line_set
from attribution.reports.opencost import allocation_set
from attribution.reports.opencost_query import OpenCostParameterError, parse_query
from attribution.timeutil import period_window

router = APIRouter(tags=["opencost"], dependencies=[Expensive])  # per-key rate limit: a read per set
RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": OpenCostAllocationResponse, "description": "one allocation set per step"},
    400: {"model": OpenCostError, "description": "a bad window, aggregate, step or flag (OpenCost's body)"},
}


@router.get("/allocation", response_model=None, responses=RESPONSES)
@router.get("/allocation/compute", response_model=None, responses=RESPONSES)
def allocation(
    principal: ReaderDep,
    session: SessionDep,
    settings: SettingsDep,
    cache: LinesDep,
    window: Annotated[
        str | None, Query(max_length=200, description="e.g. today, 7d, lastmonth, start,end")
    ] = None,
    aggregate: Annotated[str | None, Query(max_length=200, description="e.g. namespace, label:tier")] = None,
    accumulate: Annotated[
        str | None, Query(max_length=20, description="true, false, day, week, month")
    ] = None,
    step: Annotated[str | None, Query(max_length=20, description="e.g. 1h, 1d; default the window")] = None,
    include_idle: Annotated[str | None, Query(alias="includeIdle", max_length=10)] = None,
    share_idle: Annotated[str | None, Query(alias="shareIdle", max_length=10)] = None,
    filter_: Annotated[str | None, Query(alias="filter", max_length=1000, description="refused")] = None,
) -> JSONResponse:
    """OpenCost's allocation sets, amounts in dollars of our chargeback's cents (docs/opencost-api.md)."""
    try:
        query = parse_query(
            window=window,
            aggregate=aggregate,
            accumulate=accumulate,
            step=step,
            include_idle=include_idle,
            share_idle=share_idle,
            filter_=filter_,
            now=datetime.now(UTC),
            grain_seconds=grain_seconds(settings),
            max_days=settings.max_window_days,
        )
    except OpenCostParameterError as exc:
        return JSONResponse(status_code=400, content={"code": 400, "data": None, "message": str(exc)})
    single = len(query.sets) == 1
    data = [
        allocation_set(
            _lines(session, cache, principal, s, e, cached=single),
            (s, e),
            query.aggregate,
            query.include_idle,
            query.share_idle,
        )
        for s, e in query.sets
    ]
    return JSONResponse({"code": 200, "status": "success", "data": data})


def _lines(
    session: Session, cache: LineCache, principal: Principal, start: datetime, end: datetime, *, cached: bool
) -> list[LineItem]:
    """The window's lines as /v1/chargeback reads them: a whole calendar month is its period's statement
    lines; one set comes through the window cache, the sets of a step are read each (not to flush it)."""
    period = _period_of(start, end)
    found = (
        cache.lines(session, start, end, period)
        if cached
        else read_line_set(session, start, end, period).lines
    )
    mine = principal.tenant
    return found if mine is None else [x for x in found if x.tenant == mine]


def _period_of(start: datetime, end: datetime) -> str | None:
    name = f"{start.year:04d}-{start.month:02d}"
    return name if (start, end) == period_window(name) else None
