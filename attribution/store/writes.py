"""Bulk writes: idempotent upserts, window replacement and COPY, all in the caller's transaction.

Store functions flush, never commit. Re-collecting or re-attributing a window must never add: upserts
overwrite by primary key and a recomputed window is deleted before it is inserted again. On Postgres,
large batches go through binary COPY (:func:`bulk_upsert`, :func:`copy_insert`); the branch is the one
dialect switch of :mod:`attribution.store.dialect`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Column, Table, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from attribution.errors import ConflictError
from attribution.store.dialect import is_postgres, upsert_insert
from attribution.store.expressions import table_of
from attribution.store.session import driver_cursor
from attribution.store.tables import DEFAULT_CLUSTER

BATCH_ROWS = 2000


def upsert(session: Session, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows, overwriting any row with the same primary key: re-collecting a window is a no-op.

    Uses ``INSERT ... ON CONFLICT (pk) DO UPDATE`` on both Postgres and SQLite, in batches.
    """
    if not rows:
        return 0
    table = table_of(model)
    pk = [c.name for c in table.primary_key.columns]
    stmt = upsert_insert(session, table)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in pk}
    stmt = stmt.on_conflict_do_update(index_elements=pk, set_=updates)
    for i in range(0, len(rows), BATCH_ROWS):
        # executemany: SQLAlchemy batches it as multi-row VALUES without recompiling per batch
        session.execute(stmt, list(rows[i : i + BATCH_ROWS]))
    session.flush()
    return len(rows)


def replace_window(
    session: Session,
    model: type[DeclarativeBase],
    start: datetime,
    end: datetime,
    rows: Sequence[Mapping[str, Any]],
    *,
    cluster: str,
) -> int:
    """Delete one cluster's rows of a table in ``[start, end)`` and insert ``rows`` (that cluster's): a
    re-run replaces, never adds, and never touches another cluster's window."""
    _delete_window(session, table_of(model), start, end, cluster)
    return copy_insert(session, model, rows)


def _delete_window(session: Session, table: Table, start: datetime, end: datetime, cluster: str) -> None:
    """Delete ``cluster``'s rows of ``table`` in ``[start, end)``: the first half of a replace."""
    column = table.c.interval_start
    session.execute(delete(table).where(column >= start, column < end, table.c.cluster == cluster))


def insert_all(session: Session, model: type[DeclarativeBase], rows: Iterable[Mapping[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(table_of(model).insert(), batch)
        session.flush()


#: Below this many rows a COPY's temp-table round trips cost more than they save.
COPY_MIN_ROWS = 500
_PG_COPY_TYPES = {"DateTime": "timestamptz", "String": "text", "Text": "text", "BigInteger": "int8"}
_PG_COPY_TYPES |= {"Integer": "int4", "Float": "float8", "Boolean": "bool"}
#: Key columns a row may leave to the server's default: ``cluster``, for the one cluster of a config
#: without ``[[clusters]]`` (and for writers that predate clusters).
_SERVER_DEFAULTS = {"cluster": DEFAULT_CLUSTER}


def _written_columns(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[Column[Any]]:
    """The table's columns the rows carry (all rows have the same keys): COPY names only these, so a
    column left out takes its server default as an INSERT's would."""
    first = rows[0] if rows else {}
    return [c for c in table.columns if c.name in first or c.name not in _SERVER_DEFAULTS]


def _dedupe(rows: Sequence[Mapping[str, Any]], pk: list[str]) -> list[Mapping[str, Any]]:
    """Last row per primary key, in key order: ``ON CONFLICT`` may touch a row once per statement, and
    writing in one order keeps concurrent upserts of overlapping windows from deadlocking."""
    by_key = {tuple(row.get(k, _SERVER_DEFAULTS.get(k)) for k in pk): row for row in rows}
    order = sorted(
        by_key, key=lambda key: tuple(v.timestamp() if isinstance(v, datetime) else v for v in key)
    )
    return [by_key[k] for k in order]


def bulk_upsert(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    *,
    copy_first: bool = True,
) -> int:
    """:func:`upsert` for large batches: on Postgres, COPY (binary) into a temporary table, then one
    ``INSERT ... SELECT DISTINCT ON (pk) ... ORDER BY pk ON CONFLICT (pk) DO UPDATE``; elsewhere, or for
    few rows, :func:`upsert`. First it tries a plain COPY into the table (:func:`_copy_new_rows`), which
    is all a window collected for the first time needs.

    Runs in the session's transaction: nothing is visible until the caller commits. Of duplicates of a
    primary key in ``rows``, the last wins (``ctid`` order is COPY order in a fresh temporary table), and
    rows reach the table in key order, so that concurrent upserts of overlapping windows cannot deadlock;
    both are done by the server, which sorts far faster than Python. Returns the rows written.
    ``copy_first=False``: the caller's own COPY of these rows just met a stored key; skip the plain COPY.
    """
    table = table_of(model)
    pk = [c.name for c in table.primary_key.columns]
    if not is_postgres(session) or len(rows) < COPY_MIN_ROWS:
        return upsert(session, model, _dedupe(rows, pk))
    columns = _written_columns(table, rows)
    temp, target = sql.Identifier(f"_bulk_{table.name}"), sql.Identifier(table.name)
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in pk)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in columns if c.name not in pk
    )
    if copy_first and _copy_new_rows(session, table, pk, rows):
        return len(rows)
    with driver_cursor(session) as cursor:
        cursor.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(temp, target)
        )
        cursor.execute(sql.SQL("TRUNCATE {}").format(temp))
        _copy_rows(cursor, temp, columns, rows, session.connection().dialect)
        cursor.execute(
            sql.SQL(
                "INSERT INTO {target} ({names}) SELECT DISTINCT ON ({keys}) {names} FROM {temp} "
                "ORDER BY {keys}, ctid DESC ON CONFLICT ({keys}) DO UPDATE SET {updates}"
            ).format(target=target, names=names, keys=keys, temp=temp, updates=updates)
        )
        written: int = cursor.rowcount
    return written


def _copy_new_rows(session: Session, table: Table, pk: list[str], rows: Sequence[Mapping[str, Any]]) -> bool:
    """COPY ``rows`` straight into ``table`` under a savepoint: the common case (a window collected for the
    first time, or a GPU's parts just cleared) has no conflict, and needs neither the temporary table nor
    the ``INSERT ... SELECT``. Rows go in key order, the order of the upsert below, so that concurrent
    writers of overlapping windows wait for each other rather than deadlock. A duplicate key (in
    ``rows``, or already stored) rolls back to the savepoint and returns False: the caller upserts."""
    try:
        ordered = _sorted_by_key(rows, pk)
    except TypeError:  # keys that do not compare (a naive timestamp): the upsert path refuses them
        return False
    dialect = session.connection().dialect
    columns = _written_columns(table, rows)

    def copy(cursor: psycopg.Cursor[Any]) -> None:
        _copy_rows(cursor, sql.Identifier(table.name), columns, ordered, dialect)

    return copy_if_new(session, copy)


def copy_if_new(session: Session, copy: Callable[[psycopg.Cursor[Any]], None]) -> bool:
    """Run ``copy`` (a COPY into a table) on the session's connection under a savepoint; a duplicate key
    rolls back to it and returns False (the caller upserts instead). A lost connection is
    :class:`DatabaseUnavailableError`, and leaves the pool."""
    # SQL savepoints: psycopg's transaction() would COMMIT if the session had sent nothing yet
    with driver_cursor(session) as cursor:
        cursor.execute("SAVEPOINT _bulk_copy_first")
        try:
            copy(cursor)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT _bulk_copy_first")
            return False
        cursor.execute("RELEASE SAVEPOINT _bulk_copy_first")
    return True


def _key_order(pk: list[str]) -> Any:
    """Sort key of rows by primary key (text by code point). Two COPYs of overlapping windows thus take
    their keys in one order; a writer on the upsert path orders text by the database's collation, and
    should the two ever deadlock, Postgres aborts one of them: its chunk fails whole and is collected
    again, nothing is half-written. A row without ``cluster`` is the default cluster's."""

    def key(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(k, _SERVER_DEFAULTS.get(k)) for k in pk)

    return key


def _sorted_by_key(rows: Sequence[Mapping[str, Any]], pk: list[str]) -> list[Mapping[str, Any]]:
    """``rows`` sorted by :func:`_key_order`. Rows that carry every key column (the collectors' do: the
    run loop sets ``cluster``) sort on an ``itemgetter``, a C call per row instead of a Python frame and
    a generator; the order is the same."""
    if rows and all(k in rows[0] for k in pk):
        getter = itemgetter(*pk)
        try:
            return sorted(rows, key=getter)
        except KeyError:  # a later row without a key column: the general key below
            pass
    return sorted(rows, key=_key_order(pk))


def _copy_rows(
    cursor: psycopg.Cursor[Any],
    target: sql.Identifier,
    columns: Sequence[Column[Any]],
    rows: Iterable[Mapping[str, Any]],
    dialect: Any,
) -> None:
    """Binary COPY of ``rows`` (dicts keyed by column name) into ``columns`` of ``target``."""
    getter = itemgetter(*(c.name for c in columns))
    _copy_values(cursor, target, columns, map(getter, rows), dialect)  # map: no generator frame per row


def _copy_values(
    cursor: psycopg.Cursor[Any],
    target: sql.Identifier,
    columns: Sequence[Column[Any]],
    rows: Iterable[Sequence[Any]],
    dialect: Any,
) -> None:
    """Binary COPY of ``rows`` (values in the order of ``columns``) into ``columns`` of ``target``."""
    binders = [
        (i, c.type.process_bind_param) for i, c in enumerate(columns) if isinstance(c.type, TypeDecorator)
    ]
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    # a chunk repeats few distinct timestamps (one per interval): each is bound once, not once per row
    bound: list[dict[Any, Any]] = [{} for _ in binders]
    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, names)) as copy:
        copy.set_types([_PG_COPY_TYPES[type(c.type).__name__.replace("UTC", "")] for c in columns])
        write_row = copy.write_row
        if len(binders) == 1:  # the common case (one timestamp column): no loop over binders per row
            (i, bind), seen = binders[0], bound[0]
            for row in rows:
                values = list(row)
                value = values[i]
                try:
                    values[i] = seen[value]
                except KeyError:
                    values[i] = seen[value] = bind(value, dialect)
                write_row(values)
            return
        for row in rows:
            values = list(row)
            for (i, bind), seen in zip(binders, bound, strict=True):
                value = values[i]
                if value in seen:
                    values[i] = seen[value]
                else:
                    values[i] = seen[value] = bind(value, dialect)
            write_row(values)


def copy_insert(session: Session, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> int:
    """Plain insert of many rows: binary COPY on Postgres, batched INSERTs elsewhere.

    For rows whose keys cannot exist yet (the caller deleted their window in this transaction). A
    duplicate key means another transaction wrote the same window meanwhile (an ``attribution attribute``
    run beside the scheduler): a :class:`ConflictError` that the caller's transaction rolls back, not an
    overwrite and not a driver error escaping the job's error handling.
    """
    table = table_of(model)
    if not is_postgres(session) or len(rows) < COPY_MIN_ROWS:
        try:
            for i in range(0, len(rows), BATCH_ROWS):
                session.execute(table.insert(), list(rows[i : i + BATCH_ROWS]))
            session.flush()
        except IntegrityError as exc:
            raise _window_conflict(table) from exc
        return len(rows)
    columns = _written_columns(table, rows)
    getter = itemgetter(*(c.name for c in columns))
    _copy_into(session, table, columns, (getter(row) for row in rows))
    return len(rows)


def _copy_into(
    session: Session, table: Table, columns: Sequence[Column[Any]], rows: Iterable[Sequence[Any]]
) -> None:
    """Binary COPY of value rows into ``table``, in the session's transaction (flushed first). A
    duplicate key is a :class:`ConflictError` (see :func:`copy_insert`)."""
    with copy_cursor(session, table) as cursor:
        _copy_values(cursor, sql.Identifier(table.name), columns, rows, session.connection().dialect)


@contextmanager
def copy_cursor(session: Session, table: Table) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor of the session's own connection (flushed first) for a COPY into ``table``: a lost
    connection is :class:`DatabaseUnavailableError` (and leaves the pool), a duplicate key a
    :class:`ConflictError`. Every COPY of the attribution's writes goes through here."""
    session.flush()
    try:
        with driver_cursor(session) as cursor:
            yield cursor
    except psycopg.IntegrityError as exc:
        raise _window_conflict(table) from exc


def _window_conflict(table: Table) -> ConflictError:
    return ConflictError(f"another attribution run wrote this window of {table.name} meanwhile; retry")
