"""What a request finds on the app's state, as typed dependencies shared by the API and the console:
the settings, and the request's one database session, read or write.

The session is one per request (authentication and the route share its connection and snapshot). A read
never commits. A route that writes takes :data:`WriteSessionDep` instead: the same session, whose
transaction the framework owns: committed when the route returns, rolled back when it raises, before the
answer is sent (``scope="function"``), so a failed commit is answered with its error, never after a 200.
Routes and the functions they call only flush.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from attribution.config import Settings

log = logging.getLogger(__name__)


# No I/O: ``async def`` runs it on the event loop, sparing each request a hop to the thread pool and back.
async def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session, closed once the answer is sent. Opening it does no I/O (the connection is
    taken at the first statement), so it runs on the event loop; closing it returns the connection (a
    round trip) and runs on the thread pool. A sync dependency would cost a hop to the thread pool and
    back on each side of every request."""
    factory: sessionmaker[Session] = request.app.state.factory
    session = factory()
    try:
        yield session
    finally:
        try:
            await run_in_threadpool(session.close)
        except (OperationalError, InterfaceError):
            # The database went away after the answer was sent (a restart): the response already
            # stands, and the pool discards the dead connection. Raising here would reset the client.
            log.warning("database connection lost while closing a request's session")


def get_write_session(session: Annotated[Session, Depends(get_session)]) -> Iterator[Session]:
    """The request's session as one unit of work: commit on success, roll back on any error."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


SettingsDep = Annotated[Settings, Depends(get_settings)]
#: A read session: routes that only read take this one, and never commit.
SessionDep = Annotated[Session, Depends(get_session)]
#: A write session: the framework commits it before the answer is sent, or rolls it back.
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]
