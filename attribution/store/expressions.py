"""SQL expressions every read and write module of the store shares: a model's table, the half-open
window on ``interval_start``, and ``interval_start`` as Unix seconds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Executable, Row, Table, cast, func
from sqlalchemy.orm import DeclarativeBase, Session

AnyRow = Row[*tuple[Any, ...]]


def table_of(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def between(model: type[DeclarativeBase], start: datetime, end: datetime) -> Any:
    """``start <= interval_start < end``: every window of the store is half-open."""
    column = table_of(model).c.interval_start
    return (column >= start) & (column < end)


def epoch(column: Any) -> Any:
    """``interval_start`` as integer Unix seconds, converted by the database: a month's inputs are
    millions of rows, and building a timezone-aware datetime for each costs more than the model."""
    return cast(func.extract("epoch", column), BigInteger).label("interval_start_s")


def driver_rows(session: Session, statement: Executable) -> Sequence[tuple[Any, ...]]:
    """The rows of ``statement`` as the driver's own tuples, for statements whose columns need no
    conversion by SQLAlchemy (integers, text, booleans, floats: what the attribution job's readers select).

    SQLAlchemy's result fetches a psycopg cursor one row at a time and wraps each in a ``Row``; a month
    of GPU counts and KV samples is hundreds of thousands of rows, and that wrapping was most of the time
    of reading them (the query itself a fraction). The driver's ``fetchall`` builds the same values."""
    result = session.execute(statement)
    cursor = getattr(result, "cursor", None)
    if cursor is None:  # pragma: no cover - a statement without rows: nothing to fetch
        return []
    try:
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        result.close()
    return rows
