"""SQL expressions every read and write module of the store shares: a model's table, the half-open
window on ``interval_start``, and ``interval_start`` as Unix seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Row, Table, cast, func
from sqlalchemy.orm import DeclarativeBase

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
