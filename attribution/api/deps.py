"""The API's typed dependencies: settings, a read session per request, and the window cache.

Routes import them from here, and ``app.py`` imports the routes: one direction, no import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from attribution.api.cache import LineCache
from attribution.config import Settings

log = logging.getLogger(__name__)


# The dependencies below do no I/O: ``async def`` runs them on the event loop, sparing each request a hop
# to the thread pool and back (a sync dependency takes one).
async def get_settings(request: Request) -> Settings:
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
        try:
            session.close()
        except (OperationalError, InterfaceError):
            # The database went away after the answer was sent (a restart): the response already
            # stands, and the pool discards the dead connection. Raising here would reset the client.
            log.warning("database connection lost while closing a request's session")


async def get_lines(request: Request) -> LineCache:
    lines = request.app.state.lines
    assert isinstance(lines, LineCache)
    return lines


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
LinesDep = Annotated[LineCache, Depends(get_lines)]
