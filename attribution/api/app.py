"""Application factory and the one error handler (the shared dependencies are in attribution.api.deps)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, InterfaceError, InternalError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from attribution import __version__, console
from attribution.api import incidents, routes
from attribution.api.answers import AnswerCache
from attribution.api.cache import LineCache
from attribution.api.keycache import KeyCache
from attribution.api.limits import BodyLimit, RateLimiter
from attribution.api.metrics import ApiMetrics
from attribution.api.ops import SourceReadiness
from attribution.api.schemas import ErrorBody
from attribution.api.warm import WarmAnswers, WarmPath
from attribution.config import Settings, load_settings
from attribution.errors import AttributionError, DatabaseUnavailableError
from attribution.store.session import make_engine, make_sessionmaker

log = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "a request body that is not JSON, or a header given twice"},
    401: {"model": ErrorBody, "description": "missing, invalid or revoked API key"},
    403: {"model": ErrorBody, "description": "the key lacks the scope, or asks for another tenant"},
    404: {"model": ErrorBody, "description": "unknown tenant, pool or route"},
    409: {"model": ErrorBody, "description": "conflicts with the current state (period already closed)"},
    413: {"model": ErrorBody, "description": "request body over api.max_body_bytes"},
    422: {"model": ErrorBody, "description": "invalid request, window, period or cursor"},
    429: {"model": ErrorBody, "description": "over the key's rate of expensive requests; see Retry-After"},
    503: {"model": ErrorBody, "description": "database (or a metrics source) unavailable or read-only"},
}
DATABASE_UNAVAILABLE = "database unavailable"
_HTTP_CODES = {
    400: "malformed_body",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media",
}


def _error(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": detail}, headers=headers)


def create_app(settings: Settings, factory: sessionmaker[Session] | None = None) -> FastAPI:

    app = FastAPI(
        title="attribution",
        version=__version__,
        description="Chargeback and cost attribution of LLM inference clusters, from stored results.",
        responses=ERROR_RESPONSES,
        docs_url=None,  # served by attribution.console.docs from local assets: /docs works offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.factory = factory or make_sessionmaker(make_engine(settings.database_url))
    app.state.metrics = metrics = ApiMetrics()
    app.state.readiness = SourceReadiness()
    app.state.answers = AnswerCache(settings)
    app.state.keys = KeyCache(settings.api.key_cache_seconds)
    app.state.lines = LineCache(settings.api.cached_windows, on_read=metrics.window_reads.inc)
    app.state.warm = WarmAnswers(settings.api.results_fresh_seconds)
    app.state.limiter = RateLimiter(settings.api.rate_limit_per_minute, settings.api.rate_limit_burst)
    console.install_secret(app.state, settings)
    app.add_middleware(WarmPath, state=app.state)  # innermost: a kept chargeback skips only the routing
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)  # inside metrics: 413s counted
    metrics.install(app)

    @app.exception_handler(AttributionError)
    async def _domain_error(_: Request, exc: AttributionError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        retry_after = getattr(exc, "retry_after_seconds", None)  # a 429 (attribution.api.limits)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        if isinstance(exc, DatabaseUnavailableError):  # its detail carries the driver's text: log only
            log.warning("database unavailable: %s", exc.detail)
            return _error(exc.status_code, exc.code, DATABASE_UNAVAILABLE)
        return _error(exc.status_code, exc.code, exc.detail, headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _error(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return _error(409, "conflict", "a concurrent request changed the same record; retry")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(status_code=422, content={"error": "invalid_request", "detail": detail})

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(InternalError)  # e.g. a read-only database or transaction (SQLSTATE 25006)
    async def _database_down(
        _: Request, exc: OperationalError | InterfaceError | InternalError
    ) -> JSONResponse:
        # the driver's text names hosts, ports, users and databases: the server log has it, clients do not
        log.warning("database unavailable: %s", exc.orig)
        return _error(503, "database_unavailable", DATABASE_UNAVAILABLE)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # a bug: logged with its traceback, answered with the error body rather than plain text
        log.error("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "internal error; the server log has the details")

    app.include_router(routes.router)
    app.include_router(incidents.router)  # issue 18
    app.include_router(console.router)  # the finance console at /console/ and the offline /docs
    return app


def app_from_environment() -> FastAPI:
    """The app of one ``attribution serve --workers N`` process, from the environment's settings; a worker
    is a fresh process, so it sets up logging as the CLI does (log_format, log_level)."""
    from attribution.logging import setup_from_settings

    settings = load_settings()
    setup_from_settings(settings)
    return create_app(settings)
