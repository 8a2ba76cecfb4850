"""Window replacement from columns: the attribution job's outputs written without a Python object per row.

A month of pool costs is 864,000 rows and its lines 171,000; as tuples or dicts, each value a Python
object handed to psycopg's ``write_row``, building and copying them cost more than the server's COPY.
Here the job hands over its numpy columns and, on Postgres, the binary COPY stream is assembled from
them with numpy (a few array operations per column, whatever the row count) and written in one block.
Elsewhere, or for a few rows, the columns become the dicts :func:`~attribution.store.writes.replace_window`
takes, so SQLite (the demo) writes the same rows through the same INSERTs as before.

Values go in as they are stored: integers as int64 (int4 columns are range-checked), floats as float64
(bit for bit: binary COPY sends the IEEE double itself), booleans, timestamps as Unix seconds (whole
seconds: every interval start is), and text as codes into a list of names (:class:`Names`) or as one
value for every row (a ``str``). A column that may be NULL is any of these wrapped in :class:`Nulls` (the
collectors' GPU and KV rows: a GPU without power readings, an unallocated GPU's pool): binary COPY writes
a NULL as a field of length -1 and no bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase, Session

from attribution.store.dialect import is_postgres
from attribution.store.expressions import table_of
from attribution.store.writes import (
    _PG_COPY_TYPES,
    COPY_MIN_ROWS,
    _delete_window,
    bulk_upsert,
    copy_cursor,
    copy_if_new,
    replace_window,
)

PG_EPOCH_S = 946_684_800
"""2000-01-01 UTC in Unix seconds: the zero of Postgres' binary timestamps (microseconds from it)."""
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""The binary COPY header: signature, flags (none) and header extension length (none)."""
TRAILER = b"\xff\xff"
INT4_RANGE = (-(2**31), 2**31 - 1)
CHUNK_ROWS = 4096
"""Rows per piece of the COPY stream (some 700 kB of pool costs)."""


@dataclass(frozen=True, slots=True)
class Names:
    """A text column as codes into ``names``: row i holds ``names[codes[i]]``. Lines repeat a few pools
    and tenants, so each name is encoded once, not once per row."""

    codes: NDArray[np.int64]
    names: Sequence[str]


@dataclass(frozen=True, slots=True)
class Nulls:
    """A column with NULLs: row i is NULL where ``null[i]``, else row i of ``values`` (whose values at
    NULL rows are placeholders, never written nor checked)."""

    values: NDArray[Any] | Names
    null: NDArray[np.bool_]


ColumnValues = NDArray[Any] | Names | str | Nulls
"""One column of a batch: an array of the row count, names by code, one text value for every row, or
one of these with NULLs."""


def take(values: ColumnValues, index: Any) -> ColumnValues:
    """The rows ``index`` (a slice, a boolean mask or positions) of a column, in its own form."""
    if isinstance(values, str):
        return values
    if isinstance(values, Names):
        return Names(values.codes[index], values.names)
    if isinstance(values, Nulls):
        inner = take(values.values, index)
        assert not isinstance(inner, (str, Nulls))
        return Nulls(inner, values.null[index])
    out: NDArray[Any] = values[index]
    return out


def replace_window_columns(
    session: Session,
    model: type[DeclarativeBase],
    start: datetime,
    end: datetime,
    columns: Mapping[str, ColumnValues],
    rows: int,
    *,
    cluster: str,
) -> int:
    """:func:`~attribution.store.writes.replace_window` for rows given as ``columns`` (name -> values,
    every column without a server default), ``rows`` long: delete ``cluster``'s rows of ``[start, end)``
    and write these, in the session's transaction. Returns ``rows``."""
    table = table_of(model)
    if not is_postgres(session) or rows < COPY_MIN_ROWS:
        return replace_window(session, model, start, end, column_dicts(table, columns, rows), cluster=cluster)
    _delete_window(session, table, start, end, cluster)
    with copy_cursor(session, table) as cursor:
        _copy_columns(cursor, table, columns, rows)
    return rows


def upsert_columns(
    session: Session, model: type[DeclarativeBase], columns: Mapping[str, ColumnValues], rows: int
) -> int:
    """:func:`~attribution.store.writes.bulk_upsert` for rows given as ``columns`` in primary-key order
    (the order every writer takes keys in: see ``bulk_upsert``): on Postgres, one numpy-built binary COPY
    straight into the table, which is all a window collected for the first time needs; if a key is
    already there, the COPY rolls back to its savepoint and the rows, as dicts, are upserted. Elsewhere,
    or for a few rows, the dicts' upsert. Returns the rows written."""
    table = table_of(model)
    if is_postgres(session) and rows >= COPY_MIN_ROWS:
        session.flush()
        if copy_if_new(session, lambda cursor: _copy_columns(cursor, table, columns, rows)):
            return rows
        return bulk_upsert(session, model, column_dicts(table, columns, rows), copy_first=False)
    return bulk_upsert(session, model, column_dicts(table, columns, rows))


def _copy_columns(
    cursor: psycopg.Cursor[Any], table: Table, columns: Mapping[str, ColumnValues], rows: int
) -> None:
    """``rows`` rows given as ``columns`` into ``table`` by one binary COPY, built in chunks by numpy:
    the stream both the ledger's window replace and the collectors' first write send."""
    names = sql.SQL(", ").join(sql.Identifier(n) for n in columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table.name), names)
    types = [_pg_type(table, n) for n in columns]
    with cursor.copy(statement) as stream:
        for chunk in binary_copy_chunks(types, list(columns.values()), rows):
            stream.write(chunk)


def _pg_type(table: Table, name: str) -> str:
    return _PG_COPY_TYPES[type(table.c[name].type).__name__.replace("UTC", "")]


def column_dicts(table: Table, columns: Mapping[str, ColumnValues], rows: int) -> list[dict[str, Any]]:
    """The rows of ``columns`` as dicts of Python values (timestamps as aware UTC datetimes, each made
    once per distinct value): what the INSERT path takes."""
    lists = {name: _values_list(_pg_type(table, name), values, rows) for name, values in columns.items()}
    names = list(lists)
    return [dict(zip(names, row, strict=True)) for row in zip(*lists.values(), strict=True)]


def _values_list(pg_type: str, values: ColumnValues, rows: int) -> list[Any]:
    """One column as a list of Python values (None for NULL)."""
    if isinstance(values, str):
        return [values] * rows
    if isinstance(values, Names):
        return [values.names[c] for c in values.codes.tolist()]
    if isinstance(values, Nulls):
        kept = ~values.null
        found = iter(_values_list(pg_type, take(values.values, kept), int(np.count_nonzero(kept))))
        return [None if null else next(found) for null in values.null.tolist()]
    if pg_type == "timestamptz":
        seconds = values.tolist()
        stamps = {s: datetime.fromtimestamp(s, tz=UTC) for s in set(seconds)}
        return [stamps[s] for s in seconds]
    return list(values.tolist())


def binary_copy_chunks(
    pg_types: Sequence[str], columns: Sequence[ColumnValues], rows: int, chunk_rows: int = CHUNK_ROWS
) -> Iterator[bytes]:
    """:func:`binary_copy_data` in pieces of ``chunk_rows`` rows: psycopg sends each from a thread of its
    own while the next is built, so the server parses one chunk while numpy assembles the next (one block
    built whole would leave the server idle until it is)."""
    yield SIGNATURE
    encoded: Encoded = {}  # each list of names encoded once, not once per chunk (3,000 names x 87 chunks)
    for low in range(0, rows, chunk_rows):
        high = min(low + chunk_rows, rows)
        yield _tuples(pg_types, [take(c, slice(low, high)) for c in columns], high - low, encoded)
    yield TRAILER


def binary_copy_data(pg_types: Sequence[str], columns: Sequence[ColumnValues], rows: int) -> bytes:
    """The whole ``COPY ... (FORMAT BINARY)`` stream (header, tuples, trailer) of ``rows`` rows whose
    fields are ``columns``, of Postgres types ``pg_types``."""
    return SIGNATURE + _tuples(pg_types, columns, rows) + TRAILER


Encoded = dict[int, tuple[Sequence[str], NDArray[np.int64], NDArray[np.uint8]]]
"""Per list of names (by ``id``; the list is held, so no other list takes its id): the list, each name's
UTF-8 size, and the names as rows of a byte matrix as wide as the longest, zero-padded."""


def _tuples(
    pg_types: Sequence[str], columns: Sequence[ColumnValues], rows: int, encoded: Encoded | None = None
) -> bytes:
    """The tuples of the COPY stream. Each is its field count (int16), then per field its length (int32)
    and its bytes, all big-endian. Every part is a ``(rows, width)`` byte matrix side by side: a
    field of one width in every row as it is, a field of varying length (a text, a column with NULLs)
    zero-padded to its widest row with a mask of the bytes that are the row's. The parts are written into
    one matrix (and their masks into one mask) made at its final width, and the masked bytes taken in row
    order (``matrix[kept]``) are the stream: no index per byte (the scatter it replaced computed an int64
    offset per byte, most of a collection's COPY time), and no second copy of every part (``np.hstack``
    of the parts, then of their masks, took a fifth of the time)."""
    parts: list[tuple[NDArray[np.uint8], NDArray[np.bool_] | None]] = [
        (np.full(rows, len(columns), dtype=">i2").view(np.uint8).reshape(rows, 2), None)
    ]
    for pg_type, values in zip(pg_types, columns, strict=True):
        lengths, block, mask = _field_block(pg_type, values, rows, {} if encoded is None else encoded)
        parts += [(lengths.astype(">i4").view(np.uint8).reshape(rows, 4), None), (block, mask)]
    matrix = np.empty((rows, sum(block.shape[1] for block, _ in parts)), dtype=np.uint8)
    kept = None if all(mask is None for _, mask in parts) else np.ones(matrix.shape, dtype=np.bool_)
    at = 0
    for block, mask in parts:
        width = block.shape[1]
        matrix[:, at : at + width] = block
        if mask is not None:
            assert kept is not None
            kept[:, at : at + width] = mask
        at += width
    if kept is None:  # every field of one width
        return matrix.tobytes()
    stream: bytes = matrix[kept].tobytes()
    return stream


def _field_block(
    pg_type: str, values: ColumnValues, rows: int, encoded: Encoded
) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.bool_] | None]:
    """Each row's field length (-1: NULL) and its bytes as a ``(rows, width)`` matrix, with the mask of
    the bytes that are the row's where the fields vary in length (``None``: every byte is)."""
    if isinstance(values, str):
        values = Names(np.zeros(rows, dtype=np.int64), [values])
    if isinstance(values, Names):
        if pg_type != "text":
            raise TypeError(f"names given for a {pg_type} column")
        if id(values.names) not in encoded:
            texts = [n.encode() for n in values.names]
            sizes = np.array([len(b) for b in texts], dtype=np.int64)
            table = np.zeros((len(texts), int(sizes.max(initial=0))), dtype=np.uint8)
            table[np.arange(table.shape[1]) < sizes[:, None]] = np.frombuffer(b"".join(texts), dtype=np.uint8)
            encoded[id(values.names)] = (values.names, sizes, table)
        _, sizes, table = encoded[id(values.names)]
        lengths = sizes[values.codes]
        block = table[values.codes]
        if rows and (lengths == lengths[0]).all():
            return lengths, block[:, : int(lengths[0])], None
        return lengths, block, np.arange(block.shape[1]) < lengths[:, None]
    if isinstance(values, Nulls):
        kept = ~values.null
        inner = take(values.values, kept)
        assert not isinstance(inner, (str, Nulls))
        found, block, mask = _field_block(pg_type, inner, int(np.count_nonzero(kept)), encoded)
        lengths = np.full(rows, -1, dtype=np.int64)
        lengths[kept] = found
        out = np.zeros((rows, block.shape[1]), dtype=np.uint8)
        out[kept] = block
        full = np.zeros((rows, block.shape[1]), dtype=np.bool_)
        full[kept] = True if mask is None else mask
        return lengths, out, full
    lengths, data = _field_bytes(pg_type, values, rows)
    width = int(lengths[0]) if rows else 0
    return lengths, data.reshape(rows, width), None


def _field_bytes(
    pg_type: str, values: NDArray[Any], rows: int
) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """Each row's field length and the fields' bytes, concatenated in row order: a fixed-width type."""
    if values.shape != (rows,):
        raise ValueError(f"a column of {values.shape} values for {rows} rows")
    if pg_type == "timestamptz":
        wire = ((values.astype(np.int64, casting="safe") - PG_EPOCH_S) * 1_000_000).astype(">i8")
    elif pg_type == "int4":
        if rows and (values.min() < INT4_RANGE[0] or values.max() > INT4_RANGE[1]):
            raise ValueError("a value out of the int4 range")
        wire = values.astype(">i4", casting="same_kind")  # a float array is refused, not truncated
    elif pg_type == "int8":
        wire = values.astype(">i8", casting="safe")
    elif pg_type == "float8":
        if values.dtype.kind != "f":  # an int64 would pass "safe" casting and round above 2**53
            raise TypeError("a float8 column takes a float array")
        wire = values.astype(">f8", casting="safe")
    elif pg_type == "bool":
        if values.dtype != np.bool_:
            raise TypeError("a bool column takes a boolean array")
        wire = values.astype(np.uint8)
    else:
        raise TypeError(f"no binary encoding for {pg_type}")
    return np.full(rows, wire.itemsize, dtype=np.int64), np.ascontiguousarray(wire).view(np.uint8).ravel()
