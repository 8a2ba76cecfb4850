"""Application factory, the one error handler, and the shared dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from attribution import __version__
from attribution.api.schemas import ErrorBody
from attribution.config import Settings
from attribution.errors import AttributionError
from attribution.store.session import make_engine, make_sessionmaker

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorBody, "description": "invalid request or window"},
    503: {"model": ErrorBody, "description": "database unavailable"},
}


def create_app(settings: Settings, factory: sessionmaker[Session] | None = None) -> FastAPI:
    from attribution.api import routes

    app = FastAPI(title="attribution", version=__version__, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.factory = factory or make_sessionmaker(make_engine(settings.database_url))

    @app.exception_handler(AttributionError)
    async def _domain_error(_: Request, exc: AttributionError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": exc.code, "detail": exc.detail})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(status_code=422, content={"error": "invalid_request", "detail": detail})

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        return JSONResponse(
            status_code=503, content={"error": "database_unavailable", "detail": str(exc.orig)}
        )

    app.include_router(routes.router)
    return app


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A read session per request; reads never commit."""
    factory: sessionmaker[Session] = request.app.state.factory
    session = factory()
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
