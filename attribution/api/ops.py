"""Operations: liveness (``/healthz``), readiness (``/readyz``) and the API's metrics (``/metrics``).

These need no key: a load balancer and a Prometheus scraper call them. Readiness checks what answering
needs: the database, and each configured metrics source (whose outage makes results go stale, so an
operator wants to see it; the API itself answers from stored results either way).

Readiness needs no key, so what it says and what it costs are kept small: a source is named, never its
URL (which may carry ``user:pass@``); a database failure is ``unreachable`` with the driver's text only
in the server log; and each source's answer is kept for a few seconds, so callers cannot make the API
fan requests out to Prometheus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from attribution.api.deps import SessionDep, SettingsDep
from attribution.api.schemas import Health, Readiness
from attribution.collectors.auth import session_for
from attribution.collectors.prom import PromClient
from attribution.config import SourceConfig
from attribution.errors import ConfigError

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


class SourceReadiness:
    """Each metrics source's last readiness answer, reused for ``ttl_seconds``. One lock per source: while
    one request asks Prometheus, the others wait for its answer instead of asking too."""

    def __init__(self, ttl_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._answers: dict[str, tuple[float, bool]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def ready(self, source: SourceConfig, key: str | None = None) -> bool:
        """Asked with the source's own credentials, headers and TLS; a missing secret is not ready.
        ``key`` names the answer kept (default: the source's name; ``cluster/source`` with clusters)."""
        name = source.name
        key = key or name
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            answer = self._answers.get(key)
            if answer is not None and self._clock() - answer[0] < self.ttl_seconds:
                return answer[1]
            try:
                reachable = PromClient(
                    source.url, timeout_seconds=2, session=session_for(name, source), name=name
                ).ready()
            except ConfigError as exc:
                log.warning("readiness: %s", exc)
                reachable = False
            self._answers[key] = (self._clock(), reachable)
            return reachable


class ReadyScope(StrEnum):
    ALL = "all"
    DATABASE = "database"


@router.get("/readyz", response_model=Readiness)
def readyz(
    request: Request, session: SessionDep, settings: SettingsDep, scope: ReadyScope = ReadyScope.ALL
) -> Response:
    """200 when the database answers and every metrics source is ready; otherwise 503 ``not_ready``
    with each check in the detail. ``scope=database`` checks the database only: what a load balancer's
    readiness probe wants, since the API answers from stored results while Prometheus is down."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        log.warning("readiness: database check failed: %s", exc)
        checks["database"] = "unreachable"
    readiness: SourceReadiness = request.app.state.readiness
    views = settings.each_cluster() if scope is ReadyScope.ALL else []
    for view in views:  # with [[clusters]], each cluster's sources, named ``source:<cluster>/<source>``
        for source in view.effective_sources():
            name = f"{view.cluster}/{source.name}" if settings.clusters else source.name
            reachable = readiness.ready(source, name)
            checks[f"source:{name}"] = "ok" if reachable else "not ready"
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
