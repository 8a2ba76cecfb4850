"""Tenant usage of a window read as columns: numpy arrays, never a Python object per row.

A month of a fleet is tens of millions of ``tenant_usage`` rows; reading them as rows (a tuple, then a
``Usage`` object and a dict entry each) was the largest part of the attribution job's time. On Postgres
the rows are grouped by (pool, tenant, tier) (a few hundred to a few thousand groups), each with its
values as arrays (``array_agg``) sent in Postgres' binary array format (``array_send``), which numpy
decodes without a loop: five ``bytea`` values per group instead of five Python objects per row. The
window is read a slice of :data:`SLICE_SECONDS` at a time so the database's aggregation state stays
small too. The grouping is a hash aggregate (``enable_sort`` off for these queries only): the planner,
guessing thousands of groups, chose to sort the slice by the three names in the database's collation,
which cost three times the hashing. Readers compared (a binary ``COPY`` too): docs/performance.md.

SQLite (the demo, one process) reads rows: :func:`usage_columns_from_rows` turns them into the same
columns, and is the reference the Postgres reader is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from attribution.model.vectorized_usage import UsageColumns
from attribution.model.vocabulary import DEFAULT_CLUSTER
from attribution.store.dialect import is_postgres
from attribution.store.inputs import tenant_usage

SLICE_SECONDS = 6 * 3600
"""The span of one read: a few hundred MB of aggregation state in Postgres at fleet size, at most."""

_ARRAYS = """
SELECT pool, tenant, tier, count(*) AS n,
       array_send(array_agg(interval_start)) AS interval_start_us,
       array_send(array_agg(requests::bigint)) AS requests,
       array_send(array_agg(prompt_tokens::bigint)) AS prompt_tokens,
       array_send(array_agg(generation_tokens::bigint)) AS generation_tokens,
       array_send(array_agg(kv_token_seconds::float8)) AS kv_token_seconds
FROM tenant_usage
WHERE interval_start >= :start AND interval_start < :end AND cluster = :cluster
GROUP BY pool, tenant, tier
"""


def usage_columns(
    session: Session, start: datetime, end: datetime, cluster: str = DEFAULT_CLUSTER
) -> UsageColumns:
    """The tenant usage of ``[start, end)`` in ``cluster`` as columns: Postgres' arrays, or SQLite's rows."""
    if not is_postgres(session):
        return usage_columns_from_rows(tenant_usage(session, start, end, cluster))
    groups: list[tuple[str, str, str, list[Any]]] = []
    previous = session.execute(text("SELECT current_setting('enable_sort')")).scalar_one()
    session.execute(text("SET LOCAL enable_sort = off"))
    try:
        at = start
        while at < end:
            stop = min(end, at + timedelta(seconds=SLICE_SECONDS))
            for pool, tenant, tier, n, *arrays in session.execute(
                text(_ARRAYS), {"start": at, "end": stop, "cluster": cluster}
            ):
                decoded = [_decode(bytes(a), n, ">i8") for a in arrays[:4]]
                decoded[0] = epoch_seconds(decoded[0])
                groups.append((pool, tenant, tier, [*decoded, _decode(bytes(arrays[4]), n, ">f8")]))
            at = stop
    finally:
        session.execute(text("SELECT set_config('enable_sort', :previous, true)"), {"previous": previous})
    return _assemble(groups)


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


def _decode(data: bytes, n: int, element: str) -> Any:
    """A one-dimensional array without NULLs in Postgres' binary format: a 20-byte header (dimensions,
    null flag, element type, length, lower bound), then each element as its length and its bytes."""
    if n == 0:
        return np.zeros(0, dtype=np.dtype(element).newbyteorder("="))
    ndim, has_null = np.frombuffer(data, dtype=">i4", count=2)
    if ndim != 1 or has_null:
        raise ValueError("expected a one-dimensional array without NULLs")
    items = np.frombuffer(data, dtype=np.dtype([("length", ">i4"), ("value", element)]), offset=20, count=n)
    if np.any(items["length"] != np.dtype(element).itemsize):
        raise ValueError("unexpected element width in a binary array")
    return items["value"].astype(np.dtype(element).newbyteorder("="))


def usage_columns_from_rows(rows: Iterable[Any]) -> UsageColumns:
    """Columns of usage rows as :func:`attribution.store.inputs.tenant_usage` returns them."""
    by_group: dict[tuple[str, str, str], list[list[Any]]] = {}
    for ts, pool, tenant, tier, requests, prompt, generation, token_seconds in rows:
        cols = by_group.get((pool, tenant, tier))
        if cols is None:
            cols = by_group[(pool, tenant, tier)] = [[], [], [], [], []]
        for col, value in zip(cols, (ts, requests, prompt, generation, token_seconds), strict=True):
            col.append(value)
    groups = [
        (
            pool,
            tenant,
            tier,
            [*(np.array(c, dtype=np.int64) for c in cols[:4]), np.array(cols[4], dtype=np.float64)],
        )
        for (pool, tenant, tier), cols in by_group.items()
    ]
    return _assemble(groups)


def _assemble(groups: Sequence[tuple[str, str, str, list[Any]]]) -> UsageColumns:
    """One sorted set of columns from per-(pool, tenant, tier) arrays."""
    pools = sorted({g[0] for g in groups})
    keys = sorted({(g[1], g[2]) for g in groups})
    pool_index = {p: i for i, p in enumerate(pools)}
    key_index = {k: i for i, k in enumerate(keys)}
    sizes = [g[3][0].size for g in groups]
    pool = np.repeat(np.array([pool_index[g[0]] for g in groups], dtype=np.int64), sizes)
    key = np.repeat(np.array([key_index[(g[1], g[2])] for g in groups], dtype=np.int64), sizes)
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    cols = [np.concatenate([empty_i, *(g[3][i] for g in groups)]) for i in range(4)]
    seconds = np.concatenate([empty_f, *(g[3][4] for g in groups)])
    order = _time_pool_key_order(cols[0], pool, key, len(pools), len(keys))
    return UsageColumns(
        interval_start_s=cols[0][order],
        pool=pool[order],
        key=key[order],
        pools=pools,
        keys=keys,
        requests=cols[1][order],
        prompt_tokens=cols[2][order],
        generation_tokens=cols[3][order],
        kv_token_seconds=seconds[order],
    )


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
