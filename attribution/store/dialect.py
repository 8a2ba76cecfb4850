"""The one place the store asks which database it talks to.

Postgres is the system of record; SQLite serves the demo and a single process. The two differ, for the
store, in three things only: ``INSERT ... ON CONFLICT`` is built by each dialect's own ``insert``, COPY
exists only on Postgres, and SQLite keeps timestamps naive. Every such branch asks :func:`is_postgres`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

Bind = Session | Connection | Engine | Dialect


def _dialect(bind: Bind) -> Dialect:
    if isinstance(bind, Session):
        return bind.get_bind().dialect
    if isinstance(bind, Connection | Engine):
        return bind.dialect
    return bind


def is_postgres(bind: Bind) -> bool:
    """Whether ``bind`` (a session, connection, engine or dialect) speaks Postgres; otherwise SQLite."""
    return _dialect(bind).name == "postgresql"


def upsert_insert(bind: Bind, table: Table) -> Any:
    """``INSERT INTO table`` that accepts ``on_conflict_do_update`` / ``on_conflict_do_nothing``: the
    dialect's own insert (both dialects spell the clause alike, but each builds it)."""
    return (postgresql.insert if is_postgres(bind) else sqlite.insert)(table)
