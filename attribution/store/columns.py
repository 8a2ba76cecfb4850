"""Tenant usage of a window read as columns: numpy arrays, never a Python object per row.

A month of a fleet is tens of millions of ``tenant_usage`` rows; reading them as rows (a tuple, then a
``Usage`` object and a dict entry each) was the largest part of the attribution job's time. On Postgres
the rows are grouped by (pool, tenant, tier) (a few hundred to a few thousand groups), each with its
rows as fixed-width records of their values' binary send forms end to end (one ``string_agg`` of
``timestamptz_send``, ``int8send`` and ``float8send`` joined): one ``bytea`` per group instead of five
Python objects per row, which numpy decodes a slice at a time without a loop (an ``array_agg`` and
``array_send`` per group, as before session 9, sent a third more bytes and were decoded group by
group; a ``string_agg`` per column, until session 11, cost Postgres half as much again). The window is read a
slice of :data:`SLICE_SECONDS` at a time so the database's aggregation state stays small too. The
grouping is a hash aggregate (``enable_sort`` off for these queries only): the planner, guessing
thousands of groups, chose to sort the slice by the three names in the database's collation, which cost
three times the hashing. Readers compared (a binary ``COPY`` too): docs/performance.md.

SQLite (the demo, one process) reads rows: :func:`usage_columns_from_rows` turns them into the same
columns, and is the reference the Postgres reader is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from attribution.errors import DatabaseUnavailableError
from attribution.model.vectorized_kernels import I64
from attribution.model.vectorized_usage import UsageColumns
from attribution.model.vocabulary import DEFAULT_CLUSTER
from attribution.store.dialect import is_postgres
from attribution.store.inputs import tenant_usage
from attribution.store.session import driver_cursor
from attribution.timeutil import windows_of

SLICE_SECONDS = 6 * 3600
"""The span of one read: a few hundred MB of aggregation state in Postgres at fleet size, at most."""

_RECORDS = """
SELECT pool, tenant, tier, count(*) AS n,
       string_agg(timestamptz_send(interval_start) || int8send(requests::bigint)
                  || int8send(prompt_tokens::bigint) || int8send(generation_tokens::bigint)
                  || float8send(kv_token_seconds::float8), ''::bytea) AS records
FROM tenant_usage
WHERE interval_start >= %(start)s AND interval_start < %(end)s AND cluster = %(cluster)s
GROUP BY pool, tenant, tier
"""
"""Each group's rows as 40-byte records end to end (:data:`_RECORD`; the columns are NOT NULL). One
aggregate a row, not one per column: a full-fleet slice's grouping took 1.0-2.0 s instead of 1.8-3.1 s
(five ``string_agg`` calls a row, each growing its own buffer, were most of Postgres' time)."""

_RECORD = np.dtype(
    [("us", ">i8"), ("requests", ">i8"), ("prompt", ">i8"), ("generation", ">i8"), ("seconds", ">f8")]
)
"""A usage record: interval start (``timestamptz``, microseconds since 2000), the three counts, and the
KV token-seconds, each as its type's binary send form (8 bytes, big-endian)."""

Batch = tuple[list[tuple[str, str, str]], list[int], list[Any]]
"""Groups read together: each one's (pool, tenant, tier) and row count, then five columns holding all
their rows, group after group (interval start in Unix seconds, requests, prompt and generation tokens,
KV token-seconds)."""


def usage_columns(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> UsageColumns:
    """The tenant usage of ``[start, end)`` in ``cluster`` as columns: Postgres' arrays, or SQLite's rows."""
    if not is_postgres(session):
        return usage_columns_from_rows(tenant_usage(session, start, end, cluster))
    batches: list[Batch] = []  # each slice's rows dropped before the next slice is asked for
    with hashed_grouping(session):
        for at, stop in windows_of(start, end, timedelta(seconds=SLICE_SECONDS)):
            rows = records_of(session, _RECORDS, {"start": at, "end": stop, "cluster": cluster})
            if rows:
                batches.append(_batch(rows))
            del rows
    return _assemble(batches)


def records_of(session: Session, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` (``%(name)s`` parameters) in binary form, on the session's connection: a
    ``bytea`` of records arrives as itself, not as hex text twice its size, which Postgres would encode
    and the client decode (the column readers' groups of records are most of what they receive)."""
    with driver_cursor(session, binary=True) as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


@contextmanager
def hashed_grouping(session: Session) -> Iterator[None]:
    """``enable_sort`` off for the block's queries (a hash aggregate of a few hundred or thousand
    groups; the planner, guessing more, sorts by the names instead), then put back as it was, even on
    error; except a database error, which aborted the transaction: the setting ends with it, and
    putting it back would raise over the error itself (SQLAlchemy's or psycopg's own, from a
    :func:`~attribution.store.session.driver_cursor`, or the connection lost)."""
    previous = session.execute(text("SELECT current_setting('enable_sort')")).scalar_one()
    session.execute(text("SET LOCAL enable_sort = off"))
    aborted = False
    try:
        yield
    except (DBAPIError, psycopg.Error, DatabaseUnavailableError):
        aborted = True
        raise
    finally:
        if not aborted:
            session.execute(text("SELECT set_config('enable_sort', :previous, true)"), {"previous": previous})


def _batch(rows: Sequence[Any]) -> Batch:
    """One slice's groups: their records joined and decoded at once, not group by group (a full-fleet
    day is 12,000 groups; decoding them one at a time cost a second of the read)."""
    sizes = [int(row[3]) for row in rows]
    records = np.frombuffer(b"".join(row[4] for row in rows), dtype=_RECORD)
    if records.size != sum(sizes):
        raise ValueError(f"expected {sum(sizes)} usage records, got {records.size}")
    ints = [records[name].astype(np.int64) for name in ("us", "requests", "prompt", "generation")]
    ints[0] = epoch_seconds(ints[0])
    return [(row[0], row[1], row[2]) for row in rows], sizes, [*ints, records["seconds"].astype(np.float64)]


_POSTGRES_EPOCH_S = 946_684_800
"""2000-01-01 UTC, from which Postgres counts a ``timestamptz`` in microseconds."""


def epoch_seconds(postgres_us: Any) -> Any:
    """Postgres ``timestamptz`` values (microseconds since 2000) as ``extract(epoch FROM t)::bigint``
    gives them: whole seconds since 1970, a fraction rounded half away from zero as ``numeric`` rounds.

    Sending the timestamps themselves and converting here, rather than ``extract`` in SQL, takes a third
    off the query (``extract`` builds a ``numeric`` per row). Infinite timestamps are refused, as the
    cast to ``bigint`` refuses them."""
    if np.any(postgres_us == np.iinfo(np.int64).max) or np.any(postgres_us == np.iinfo(np.int64).min):
        raise ValueError("an infinite timestamp in tenant_usage")
    whole, fraction = np.divmod(postgres_us, 1_000_000)  # floor: 0 <= fraction < 1 s
    # a negative epoch (before 1970) rounds its half second away from zero too: down, not up
    before_1970 = postgres_us < -_POSTGRES_EPOCH_S * 1_000_000
    up = (fraction > 500_000) | ((fraction == 500_000) & ~before_1970)
    return whole + _POSTGRES_EPOCH_S + up


def usage_columns_from_rows(rows: Iterable[Any]) -> UsageColumns:
    """Columns of usage rows as :func:`attribution.store.inputs.tenant_usage` returns them."""
    by_group: dict[tuple[str, str, str], list[list[Any]]] = {}
    for ts, pool, tenant, tier, requests, prompt, generation, token_seconds in rows:
        cols = by_group.get((pool, tenant, tier))
        if cols is None:
            cols = by_group[(pool, tenant, tier)] = [[], [], [], [], []]
        for col, value in zip(cols, (ts, requests, prompt, generation, token_seconds), strict=True):
            col.append(value)
    groups = list(by_group.values())
    columns = [np.array([v for g in groups for v in g[i]], dtype=np.int64) for i in range(4)]
    columns.append(np.array([v for g in groups for v in g[4]], dtype=np.float64))
    return _assemble([(list(by_group), [len(g[0]) for g in groups], columns)])


def _assemble(batches: list[Batch]) -> UsageColumns:
    """One sorted set of columns from batches of per-(pool, tenant, tier) groups, which it consumes.

    Each column is joined from the batches, put in order and its batches' parts let go before the next
    column is joined: a full-fleet day's read peaked at 800 MiB above its 230 MiB of columns when every
    column was joined at once and then ordered, and the next window's reads run beside the engine."""
    names = [name for batch in batches for name in batch[0]]
    sizes = [size for batch in batches for size in batch[1]]
    pools = sorted({n[0] for n in names})
    keys = sorted({(n[1], n[2]) for n in names})
    pool_index = {p: i for i, p in enumerate(pools)}
    key_index = {k: i for i, k in enumerate(keys)}
    group_pool = np.array([pool_index[n[0]] for n in names], dtype=np.int64)
    group_key = np.array([key_index[(n[1], n[2])] for n in names], dtype=np.int64)
    pool, key = np.repeat(group_pool, sizes), np.repeat(group_key, sizes)
    parts = [batch[2] for batch in batches]
    del batches

    def joined(i: int) -> Any:
        """Column ``i`` of every batch end to end; the batches' parts of it are let go."""
        column = np.concatenate(
            [np.zeros(0, dtype=np.float64 if i == 4 else np.int64), *(p[i] for p in parts)]
        )
        for p in parts:
            p[i] = None
        return column

    groups = (group_pool, group_key, np.array(sizes, dtype=np.int64))
    order, ts, pool, key = _ordered(joined(0), pool, key, groups, len(pools), len(keys))
    return UsageColumns(
        interval_start_s=ts,
        pool=pool,
        key=key,
        pools=pools,
        keys=keys,
        requests=joined(1)[order],
        prompt_tokens=joined(2)[order],
        generation_tokens=joined(3)[order],
        kv_token_seconds=joined(4)[order],
    )


def _ordered(
    ts: Any, pool: Any, key: Any, groups: tuple[Any, Any, Any], n_pools: int, n_keys: int
) -> tuple[Any, Any, Any, Any]:
    """The order of rows arriving in groups (``np.lexsort((key, pool, ts))``: by interval, pool and key,
    ties in their given order), and the three columns in it. The radix order of :func:`_grouped_order`
    where it is that order; else (rows equal in all three, a span too wide) the sort of
    :func:`_time_pool_key_order` applied after it: its ties keep the grouped order, which is the order
    given (a (pool, key)'s groups come in their given order, and so do the rows of each)."""
    order = _grouped_order(ts, groups)
    ts, pool, key = ts[order], pool[order], key[order]
    if not _strictly_increasing(ts, pool, key, n_pools, n_keys):
        again = _time_pool_key_order(ts, pool, key, n_pools, n_keys)
        order, ts, pool, key = order[again], ts[again], pool[again], key[again]
    return order, ts, pool, key


def _grouped_order(ts: Any, groups: tuple[Any, Any, Any]) -> Any:
    """The rows, which arrive in groups of one (pool, key) each, in (time, pool, key) order where no two
    share all three (:func:`_strictly_increasing` checks it), without a comparison sort of the rows.

    The groups (a few thousand) are put in (pool, key) order, and their rows then stably sorted by time
    alone with numpy's radix sort of 16-bit keys (one pass per 16 bits of the window's span). Assembling
    a full-fleet day's 4.3 M rows took 0.6 s of CPU instead of 1.0 s with the packed key's ``argsort``
    (medians of seven runs each, alternating). A span of 2**32 seconds or more is left in the order
    given: the check decides whether it stands, as for the radix order."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    group_pool, group_key, sizes = groups
    low, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if span >= 2**32:
        return np.arange(ts.size, dtype=np.int64)
    by_name = np.lexsort((group_key, group_pool))
    lengths = sizes[by_name]
    firsts = (np.cumsum(sizes) - sizes)[by_name]
    # the rows of each group in turn, in the groups' new order
    rows = np.arange(ts.size, dtype=np.int64) + np.repeat(firsts - (np.cumsum(lengths) - lengths), lengths)
    since = ts[rows] - low
    order = np.argsort((since & 0xFFFF).astype(np.uint16), kind="stable")
    if span > 2**16:
        order = order[np.argsort((since[order] >> 16).astype(np.uint16), kind="stable")]
    del since
    ordered: Any = rows[order]
    return ordered


def _strictly_increasing(ts: Any, pool: Any, key: Any, n_pools: int, n_keys: int) -> bool:
    """Whether the rows are in strictly increasing (time, pool, key) order: sorted, no two alike."""
    if ts.size < 2:
        return True
    low, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if span * max(n_pools, 1) * max(n_keys, 1) >= 2**62:
        return False
    packed = ts - low  # one temporary, the rest in place
    packed *= n_pools
    packed += pool
    packed *= n_keys
    packed += key
    return bool(np.all(packed[1:] > packed[:-1]))


def _time_pool_key_order(ts: Any, pool: Any, key: Any, n_pools: int, n_keys: int) -> Any:
    """``np.lexsort((key, pool, ts))``: the rows by interval, pool and key, ties in their given order.

    A day of the full fleet is 4.3 M rows, and a three-key lexsort of them took 1.9 s; one int64 key
    packing the three sorts in 0.5 s. An unstable sort gives the same order when no two rows share all
    three (the table's key makes them unique on the interval grid); if two do, the stable sort decides."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    low, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if span * max(n_pools, 1) * max(n_keys, 1) >= 2**62:
        return np.lexsort((key, pool, ts))
    packed = ((ts - low) * n_pools + pool) * n_keys + key
    order = np.argsort(packed)
    in_order = packed[order]
    if np.any(in_order[1:] == in_order[:-1]):
        return np.argsort(packed, kind="stable")
    return order


def tune_for_scans(session: Session) -> None:
    """For the rest of the transaction, no JIT and more sort memory (Postgres; nothing on SQLite).

    The job's reads are plain scans and groupings of a window. Postgres JIT-compiles a query its planner
    estimates costly by row count, as a month's window can be, and compiling costs more than such a
    query runs. ``work_mem`` keeps the grouping of a slice's usage in memory rather than on disk."""
    if is_postgres(session):
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def name_codes(values: Sequence[str | None]) -> tuple[list[str], I64]:
    """Sorted names and each value's code in them, -1 for None: the column readers' name columns."""
    names = sorted({v for v in values if v is not None})
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([-1 if v is None else index[v] for v in values], dtype=np.int64)


def recoded(names: list[str], all_names: list[str], codes: I64) -> I64:
    """``codes`` into ``names`` as codes into ``all_names`` (which holds every one of them); -1 (None)
    stays -1: slices read apart, joined."""
    index = {name: i for i, name in enumerate(all_names)}
    lookup = np.array([index[name] for name in names] + [-1], dtype=np.int64)
    return lookup[codes]  # -1 picks the appended -1
