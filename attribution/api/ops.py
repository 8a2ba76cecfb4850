"""Operations: liveness (``/healthz``), readiness (``/readyz``) and the API's metrics (``/metrics``).

These need no key: a load balancer and a Prometheus scraper call them. Readiness checks what answering
needs: the database, and each configured metrics source (whose outage makes results go stale, so an
operator wants to see it; the API itself answers from stored results either way).
"""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from attribution.api.app import SessionDep, SettingsDep
from attribution.api.schemas import Health, Readiness
from attribution.collectors.prom import PromClient

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


class ReadyScope(StrEnum):
    ALL = "all"
    DATABASE = "database"


@router.get("/readyz", response_model=Readiness)
def readyz(session: SessionDep, settings: SettingsDep, scope: ReadyScope = ReadyScope.ALL) -> Response:
    """200 when the database answers and every metrics source is ready; otherwise 503 ``not_ready``
    with each check in the detail. ``scope=database`` checks the database only: what a load balancer's
    readiness probe wants, since the API answers from stored results while Prometheus is down."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    sources = settings.effective_sources() if scope is ReadyScope.ALL else []
    for source in sources:
        reachable = PromClient(source.url, timeout_seconds=2).ready()
        checks[f"source:{source.name}"] = "ok" if reachable else f"not ready at {source.url}"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse(Readiness(status="ready", checks=checks).model_dump())
    detail = "; ".join(f"{k}: {v}" for k, v in checks.items())
    return JSONResponse(status_code=503, content={"error": "not_ready", "detail": detail})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "exposition"}},
)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the API's own metrics."""
    exposition: Response = request.app.state.metrics.exposition()
    return exposition
