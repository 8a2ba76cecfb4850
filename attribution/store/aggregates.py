"""Sums of float columns that do not depend on the order rows lie in on disk.

Float addition is not associative: ``sum()`` over the same rows read in another order can differ in the
last bits. Postgres reads a window's lines by index (interval order) or, once the window is large or
autoanalyze has changed the statistics, by a scan in heap order, which depends on how the lines were
written: two scheduler replicas write a window in several runs, each deleting and re-inserting, a single
process in one. The same stored lines then gave two answers (the two-replica test's mismatch).
:func:`ordered_sum` sums in the order of the given columns (the table's key), so equal rows give equal
sums. Integer columns (money, counts) are exact in any order and keep plain ``sum``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Float, func, literal
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class ordered_sum(FunctionElement[float]):  # noqa: N801 (a SQL function, named like one)
    """``sum(column ORDER BY keys...)`` on Postgres; plain ``sum(column)`` where the dialect has no
    ordered aggregates (SQLite before 3.44: the demo, which reads a table in rowid order anyway)."""

    type = Float()
    inherit_cache = True
    name = "ordered_sum"

    def __init__(self, column: ColumnElement[Any], *keys: ColumnElement[Any]) -> None:
        super().__init__(column, *keys)


@compiles(ordered_sum)
def _plain(element: ordered_sum, compiler: SQLCompiler, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return compiler.process(func.sum(column), **kw)


@compiles(ordered_sum, "postgresql")
def _ordered(element: ordered_sum, compiler: SQLCompiler, **kw: Any) -> str:
    column, *keys = list(element.clauses)
    return compiler.process(func.sum(aggregate_order_by(column, *keys)), **kw)


def key_sum(column: Any) -> Any:
    """``sum(column)``: in the order of its table's primary key when the column is a float, plain for
    integers (exact in any order). ``column`` is an ORM attribute or a table column."""
    table = column.table
    if column.type.python_type is float:
        return ordered_sum(column, *table.primary_key.columns)
    return func.sum(column)


class epoch_seconds(FunctionElement[int]):  # noqa: N801 (a SQL function, named like one)
    """A timestamp column as whole Unix seconds, in SQL: the key for bucketing a series in the database."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds)
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return f"CAST(strftime('%s', {compiler.process(column, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgres(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(column, **kw)}) AS BIGINT)"


def bucket_of(column: Any, origin_seconds: int, step_seconds: int) -> Any:
    """The Unix second that starts ``column``'s bucket of ``step_seconds``, counted from ``origin``
    (rows at or after ``origin`` only: integer division then floors, in Postgres and SQLite alike)."""
    since = epoch_seconds(column) - literal(origin_seconds, BigInteger)
    return literal(origin_seconds, BigInteger) + since // literal(step_seconds, BigInteger) * literal(
        step_seconds, BigInteger
    )


class day_start(FunctionElement[Any]):  # noqa: N801 (a SQL function, named like one)
    """The start of a timestamp column's UTC day, as the same type: the key rollups group by."""

    inherit_cache = True
    name = "day_start"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(day_start)
def _day_sqlite(element: day_start, compiler: SQLCompiler, **kw: Any) -> str:
    column = next(iter(element.clauses))
    # the text SQLAlchemy stores a DateTime as on SQLite, so comparisons with bound values hold
    return f"strftime('%Y-%m-%d 00:00:00.000000', {compiler.process(column, **kw)})"


@compiles(day_start, "postgresql")
def _day_postgres(element: day_start, compiler: SQLCompiler, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return f"(date_trunc('day', {compiler.process(column, **kw)} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
