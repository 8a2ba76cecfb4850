"""Engines and sessions. Jobs own their transaction: store functions flush, never commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from attribution.errors import DatabaseUnavailableError


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_must_exist(url: str) -> str:
    """A SQLite file URL that opens the file read-write without creating it (SQLite's ``mode=rw``).

    Otherwise any command pointed at a missing database (``keys create`` before ``db upgrade``) leaves
    an empty file behind, and the next command then fails with ``no such table``. Only ``db upgrade``
    creates the file (``make_engine(url, create=True)``). In-memory and URI databases are left as given.
    """
    parsed = make_url(url)
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:") or parsed.query.get("uri"):
        return url
    uri = f"file:{quote(path)}"
    query = {**parsed.query, "mode": "rw", "uri": "true"}
    return parsed.set(database=uri, query=query).render_as_string(hide_password=False)


def make_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for ``url``; a SQLite file must already exist unless ``create`` (see ``db upgrade``)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url if create else _sqlite_must_exist(url))
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error; a dead database is a 503-class error."""
    session = factory()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise DatabaseUnavailableError(f"database unavailable: {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def driver_cursor(session: Session, *, binary: bool = False) -> Iterator[psycopg.Cursor[Any]]:
    """A psycopg cursor of the session's own connection, in its transaction: for what SQLAlchemy does
    not offer (COPY, results in binary format). A lost connection is :class:`DatabaseUnavailableError`,
    and the connection leaves the pool."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor(binary=binary) as cursor:
            yield cursor
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        connection.invalidate(exc)  # the pool must not hand this connection out again
        raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
