"""Plain query functions over a Session. The one dialect-specific piece, the upsert, lives here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import BigInteger, Row, Table, case, cast, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from attribution.errors import ConflictError, DatabaseUnavailableError
from attribution.store.aggregates import key_sum
from attribution.store.collection_state import (
    CollectionLog,
    CollectorWatermark,
    CoverageStatus,
    DirtyWindow,
    SourceCoverage,
)
from attribution.store.tables import (
    AttributedCost,
    ClusterCost,
    Coverage,
    GpuSample,
    KvSample,
    PoolCost,
    TenantUsage,
)

BATCH_ROWS = 2000
AnyRow = Row[*tuple[Any, ...]]


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def upsert(session: Session, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows, overwriting any row with the same primary key: re-collecting a window is a no-op.

    Uses ``INSERT ... ON CONFLICT (pk) DO UPDATE`` on both Postgres and SQLite, in batches.
    """
    if not rows:
        return 0
    table = _table(model)
    pk = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(table)
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
) -> int:
    """Delete a table's rows in ``[start, end)`` and insert ``rows``: a re-run replaces, never adds."""
    table = _table(model)
    column = table.c.interval_start
    session.execute(delete(table).where(column >= start, column < end))
    return copy_insert(session, model, rows)


def clear_gpu_parts(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete the stored parts of every (interval, GPU) in ``rows`` before they are upserted: a GPU read
    again as other parts (a whole GPU now shared, an unplaced series now placed) must not keep its old
    parts, whose shares would count the GPU twice. GPUs absent from ``rows`` keep their rows."""
    t = _table(GpuSample)
    by_interval: dict[Any, set[str]] = {}
    for r in rows:
        by_interval.setdefault(r["interval_start"], set()).add(r["gpu_uuid"])
    for start in sorted(by_interval):  # one order for every writer
        uuids = sorted(by_interval[start])
        for i in range(0, len(uuids), BATCH_ROWS):
            where = (t.c.interval_start == start, t.c.gpu_uuid.in_(uuids[i : i + BATCH_ROWS]))
            session.execute(delete(t).where(*where))


def _between(model: type[DeclarativeBase], start: datetime, end: datetime) -> Any:
    column = _table(model).c.interval_start
    return (column >= start) & (column < end)


def _epoch(column: Any) -> Any:
    """``interval_start`` as integer Unix seconds, converted by the database: a month's inputs are
    millions of rows, and building a timezone-aware datetime for each costs more than the model."""
    return cast(func.extract("epoch", column), BigInteger).label("interval_start_s")


MIB_BYTES = 1024 * 1024


def gpu_counts(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """GPUs sampled per interval, GPU type, pool (None: serving no pool) and placement (``unplaced``: a
    part whose series could not be placed), counted by the database: the model needs counts, and a fleet
    has a thousand GPU rows per interval. ``gpus`` counts whole GPUs; ``share_ppm`` sums the parts of
    MIG and shared GPUs (parts per million of a GPU). GPUs of a type outside the catalog (``gpu_type``
    None) are left out: they are not on the bill.

    ``measured_gpus`` of the whole GPUs reported FB_USED, FB_FREE and FB_RESERVED; ``measured_mib`` is the
    sum of their framebuffer totals, each rounded to whole MiB (the exporter's unit) so averaging cannot
    drift it. Parts take their share of the catalog's total instead (a part's gauges are its own).
    """
    t = _table(GpuSample)
    whole = t.c.gpu_share_ppm.is_(None)
    unplaced = t.c.problem.is_not(None).label("unplaced")
    fb = case((whole, t.c.fb_used_bytes + t.c.fb_free_bytes + t.c.fb_reserved_bytes), else_=None)
    return session.execute(
        select(
            _epoch(t.c.interval_start),
            t.c.gpu_type,
            t.c.pool,
            unplaced,
            func.sum(case((whole, 1), else_=0)).label("gpus"),
            func.coalesce(func.sum(t.c.gpu_share_ppm), 0).label("share_ppm"),
            func.count(fb).label("measured_gpus"),
            # whole MiB, half up, in integers: Postgres' round(double) rounds half to even, SQLite's half up
            func.coalesce(func.sum((fb + MIB_BYTES // 2) // MIB_BYTES), 0).label("measured_mib"),
        )
        .where(_between(GpuSample, start, end), t.c.gpu_type.is_not(None))
        .group_by(t.c.interval_start, t.c.gpu_type, t.c.pool, unplaced)
    ).all()


def kv_samples(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Engines' KV samples in ``[start, end)``; ``interval_start_s`` in Unix seconds."""
    t = _table(KvSample)
    return session.execute(
        select(
            _epoch(t.c.interval_start),
            t.c.pool,
            t.c.engine_id,
            t.c.kv_usage_ratio,
            t.c.kv_capacity_tokens,
            t.c.kv_bytes_per_token,
            t.c.requests_running,
        ).where(_between(KvSample, start, end))
    ).all()


def tenant_usage(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Tenant usage rows in ``[start, end)``; ``interval_start_s`` in Unix seconds."""
    t = _table(TenantUsage)
    return session.execute(
        select(
            _epoch(t.c.interval_start),
            t.c.pool,
            t.c.tenant,
            t.c.tier,
            t.c.requests,
            t.c.prompt_tokens,
            t.c.generation_tokens,
            t.c.kv_token_seconds,
        ).where(_between(TenantUsage, start, end))
    ).all()


def chargeback_by_tenant(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Per tenant over ``[start, end)``: usage and cost by component, summed from stored lines."""
    t = _table(AttributedCost)
    return session.execute(
        select(
            t.c.tenant,
            func.sum(t.c.requests).label("requests"),
            func.sum(t.c.prompt_tokens).label("prompt_tokens"),
            func.sum(t.c.generation_tokens).label("generation_tokens"),
            key_sum(t.c.kv_token_seconds).label("kv_token_seconds"),
            key_sum(t.c.kv_byte_seconds).label("kv_byte_seconds"),
            func.sum(t.c.kv_in_use_usd_micros).label("kv_in_use_usd_micros"),
            func.sum(t.c.static_usd_micros).label("static_usd_micros"),
            func.sum(t.c.idle_usd_micros).label("idle_usd_micros"),
            func.sum(t.c.unmeasured_usd_micros).label("unmeasured_usd_micros"),
            func.sum(t.c.total_usd_micros).label("total_usd_micros"),
            func.max(case((t.c.estimated, 1), else_=0)).label("estimated"),
        )
        .where(_between(AttributedCost, start, end))
        .group_by(t.c.tenant)
        .order_by(t.c.tenant)
    ).all()


def cluster_cost_usd_micros(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """The cluster's bill over the window from stored cluster costs, and how many intervals it covers."""
    t = _table(ClusterCost)
    total, count = session.execute(
        select(func.coalesce(func.sum(t.c.cost_usd_micros), 0), func.count()).where(
            _between(ClusterCost, start, end)
        )
    ).one()
    return int(total), int(count)


def coverage_counts(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    t = _table(Coverage)
    rows = session.execute(
        select(t.c.source, func.count())
        .where(_between(Coverage, start, end), t.c.series > 0)
        .group_by(t.c.source)
    ).all()
    return {str(source): int(n) for source, n in rows}


def engine_activity(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Every (interval_start, pool) in ``[start, end)`` whose engines showed work (a KV usage reading
    above zero or requests running), with ``has_usage``: whether the gateway reported any tenant with
    KV token-seconds there. Work without usage is a telemetry gap, whether the gateway's series were
    absent or flat (rows of zeros)."""
    k, u = _table(KvSample), _table(TenantUsage)
    usage = (
        select(u.c.pool)
        .where(u.c.interval_start == k.c.interval_start, u.c.pool == k.c.pool, u.c.kv_token_seconds > 0)
        .exists()
    )
    return session.execute(
        select(k.c.interval_start, k.c.pool, usage.label("has_usage"))
        .where(_between(KvSample, start, end), (k.c.kv_usage_ratio > 0) | (k.c.requests_running > 0))
        .group_by(k.c.interval_start, k.c.pool)
        .order_by(k.c.pool, k.c.interval_start)
    ).all()


def tenants_seen(session: Session) -> set[str]:
    t = _table(AttributedCost)
    return {str(r[0]) for r in session.execute(select(t.c.tenant).distinct())}


def pool_costs(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    t = _table(PoolCost)
    return session.execute(
        select(
            t.c.pool,
            func.sum(t.c.cost_usd_micros).label("cost_usd_micros"),
            func.sum(t.c.kv_in_use_usd_micros).label("kv_in_use_usd_micros"),
            func.sum(t.c.kv_free_usd_micros).label("kv_free_usd_micros"),
            func.sum(t.c.static_usd_micros).label("static_usd_micros"),
            func.avg(t.c.kv_in_use_bytes * 1.0 / func.nullif(t.c.kv_capacity_bytes, 0)).label(
                "kv_usage_ratio"
            ),
        )
        .where(_between(PoolCost, start, end))
        .group_by(t.c.pool)
        .order_by(t.c.pool)
    ).all()


def insert_all(session: Session, model: type[DeclarativeBase], rows: Iterable[Mapping[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(_table(model).insert(), batch)
        session.flush()


# --- bulk writes -------------------------------------------------------------------------------------

#: Below this many rows a COPY's temp-table round trips cost more than they save.
COPY_MIN_ROWS = 500
_PG_COPY_TYPES = {"DateTime": "timestamptz", "String": "text", "Text": "text", "BigInteger": "int8"}
_PG_COPY_TYPES |= {"Integer": "int4", "Float": "float8", "Boolean": "bool"}


def _dedupe(rows: Sequence[Mapping[str, Any]], pk: list[str]) -> list[Mapping[str, Any]]:
    """Last row per primary key, in key order: ``ON CONFLICT`` may touch a row once per statement, and
    writing in one order keeps concurrent upserts of overlapping windows from deadlocking."""
    by_key = {tuple(row[k] for k in pk): row for row in rows}
    order = sorted(
        by_key, key=lambda key: tuple(v.timestamp() if isinstance(v, datetime) else v for v in key)
    )
    return [by_key[k] for k in order]


def bulk_upsert(session: Session, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> int:
    """:func:`upsert` for large batches: on Postgres, COPY (binary) into a temporary table, then one
    ``INSERT ... SELECT DISTINCT ON (pk) ... ORDER BY pk ON CONFLICT (pk) DO UPDATE``; elsewhere, or for
    few rows, :func:`upsert`.

    Runs in the session's transaction: nothing is visible until the caller commits. Of duplicates of a
    primary key in ``rows``, the last wins (``ctid`` order is COPY order in a fresh temporary table), and
    rows reach the table in key order, so that concurrent upserts of overlapping windows cannot deadlock;
    both are done by the server, which sorts far faster than Python. Returns the rows written.
    """
    table = _table(model)
    pk = [c.name for c in table.primary_key.columns]
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        return upsert(session, model, _dedupe(rows, pk))
    columns = list(table.columns)
    temp, target = sql.Identifier(f"_bulk_{table.name}"), sql.Identifier(table.name)
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in pk)
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in columns if c.name not in pk
    )
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                    temp, target
                )
            )
            cursor.execute(sql.SQL("TRUNCATE {}").format(temp))
            _copy_rows(cursor, temp, table, rows, dialect)
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {target} ({names}) SELECT DISTINCT ON ({keys}) {names} FROM {temp} "
                    "ORDER BY {keys}, ctid DESC ON CONFLICT ({keys}) DO UPDATE SET {updates}"
                ).format(target=target, names=names, keys=keys, temp=temp, updates=updates)
            )
            written = cursor.rowcount
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        connection.invalidate(exc)  # the pool must not hand this connection out again
        raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
    return written


def _copy_rows(
    cursor: psycopg.Cursor[Any],
    target: sql.Identifier,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    dialect: Any,
) -> None:
    """Binary COPY of ``rows`` (dicts keyed by column name) into ``target``, shaped like ``table``."""
    columns = list(table.columns)
    getter = itemgetter(*(c.name for c in columns))
    binders = [
        (i, c.type.process_bind_param) for i, c in enumerate(columns) if isinstance(c.type, TypeDecorator)
    ]
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, names)) as copy:
        copy.set_types([_PG_COPY_TYPES[type(c.type).__name__.replace("UTC", "")] for c in columns])
        for row in rows:
            values = list(getter(row))
            for i, bind in binders:
                values[i] = bind(values[i], dialect)
            copy.write_row(values)


def copy_insert(session: Session, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]) -> int:
    """Plain insert of many rows: binary COPY on Postgres, batched INSERTs elsewhere.

    For rows whose keys cannot exist yet (the caller deleted their window in this transaction). A
    duplicate key means another transaction wrote the same window meanwhile (an ``attribution attribute``
    run beside the scheduler): a :class:`ConflictError` that the caller's transaction rolls back, not an
    overwrite and not a driver error escaping the job's error handling.
    """
    table = _table(model)
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        try:
            for i in range(0, len(rows), BATCH_ROWS):
                session.execute(table.insert(), list(rows[i : i + BATCH_ROWS]))
            session.flush()
        except IntegrityError as exc:
            raise _window_conflict(table) from exc
        return len(rows)
    session.flush()
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor:
            _copy_rows(cursor, sql.Identifier(table.name), table, rows, dialect)
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        connection.invalidate(exc)
        raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
    except psycopg.IntegrityError as exc:
        raise _window_conflict(table) from exc
    return len(rows)


def _window_conflict(table: Table) -> ConflictError:
    return ConflictError(f"another attribution run wrote this window of {table.name} meanwhile; retry")


# --- collection state ----------------------------------------------------------------------------------


def ensure_watermark(session: Session, collector: str, source: str, initial: datetime, now: datetime) -> None:
    """Create the (collector, source) watermark at ``initial`` unless it exists."""
    t = _table(CollectorWatermark)
    insert_fn = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"collector": collector, "source": source, "watermark": initial, "updated_at": now}
    session.execute(insert_fn(t).values(consecutive_failures=0, **values).on_conflict_do_nothing())


def lock_watermark(session: Session, collector: str, source: str) -> CollectorWatermark | None:
    """The watermark row, locked until the transaction ends; None if another transaction holds it.

    Postgres: ``SELECT ... FOR UPDATE SKIP LOCKED``, so a second scheduler replica skips the run instead of
    queueing behind the first. SQLite has no row locks: it serves one process (docs/collectors.md).
    """
    stmt = (
        select(CollectorWatermark)
        .where(CollectorWatermark.collector == collector, CollectorWatermark.source == source)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(stmt).one_or_none()


def advance_watermark(session: Session, collector: str, source: str, to: datetime, now: datetime) -> None:
    t = _table(CollectorWatermark)
    session.execute(
        update(t)
        .where(t.c.collector == collector, t.c.source == source)
        .values(watermark=to, updated_at=now, last_success_at=now, consecutive_failures=0)
    )


def record_failure(session: Session, collector: str, source: str, error: str, now: datetime) -> None:
    t = _table(CollectorWatermark)
    session.execute(
        update(t)
        .where(t.c.collector == collector, t.c.source == source)
        .values(
            last_error=error[:2000],
            last_error_at=now,
            updated_at=now,
            consecutive_failures=t.c.consecutive_failures + 1,
        )
    )


def mark_dirty(session: Session, start: datetime, end: datetime, reason: str, now: datetime) -> None:
    """Record that the inputs of ``[start, end)`` changed after they may have been attributed."""
    session.execute(
        insert(_table(DirtyWindow)).values(window_start=start, window_end=end, marked_at=now, reason=reason)
    )


def dirty_windows(session: Session) -> Sequence[DirtyWindow]:
    return session.scalars(select(DirtyWindow).order_by(DirtyWindow.window_start, DirtyWindow.id)).all()


def clear_dirty(session: Session, ids: Iterable[int]) -> None:
    session.execute(delete(_table(DirtyWindow)).where(_table(DirtyWindow).c.id.in_(list(ids))))


def all_watermarks(session: Session) -> Sequence[CollectorWatermark]:
    return session.scalars(
        select(CollectorWatermark).order_by(CollectorWatermark.collector, CollectorWatermark.source)
    ).all()


def write_source_coverage(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store per-source coverage rows, then refresh the per-collector ``coverage`` summary for the same
    intervals (``series`` summed over sources that had data) in the same transaction."""
    if not rows:
        return
    bulk_upsert(session, SourceCoverage, rows)
    sc, t = _table(SourceCoverage), _table(Coverage)
    for collector in {str(r["collector"]) for r in rows}:
        mine = [r["interval_start"] for r in rows if r["collector"] == collector]
        present = case((sc.c.status != CoverageStatus.MISSING.value, sc.c.series), else_=0)
        summary = (
            select(sc.c.collector, sc.c.interval_start, func.sum(present))
            .where(sc.c.collector == collector, sc.c.interval_start.between(min(mine), max(mine)))
            .group_by(sc.c.collector, sc.c.interval_start)
        )
        insert_fn = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = insert_fn(t).from_select(["source", "interval_start", "series"], summary)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["source", "interval_start"], set_={"series": stmt.excluded.series}
            )
        )
    session.flush()


def source_coverage(
    session: Session, start: datetime, end: datetime, collector: str | None = None
) -> Sequence[AnyRow]:
    """Per (collector, source, status): how many intervals of ``[start, end)``, for reports and the CLI."""
    t = _table(SourceCoverage)
    stmt = select(t.c.collector, t.c.source, t.c.status, func.count().label("intervals")).where(
        _between(SourceCoverage, start, end)
    )
    if collector is not None:
        stmt = stmt.where(t.c.collector == collector)
    return session.execute(
        stmt.group_by(t.c.collector, t.c.source, t.c.status).order_by(t.c.collector, t.c.source, t.c.status)
    ).all()


def intervals_covered_by_all(
    session: Session, keys: Sequence[tuple[str, str]], start: datetime, end: datetime
) -> set[datetime]:
    """The intervals of ``[start, end)`` with a coverage row (any status) from every (collector, source)
    of ``keys``: collected by all of them, whether or not they had data."""
    t = _table(SourceCoverage)
    pairs = [(t.c.collector == c) & (t.c.source == s) for c, s in keys]
    rows = session.execute(
        select(t.c.interval_start)
        .where(_between(SourceCoverage, start, end), or_(*pairs))
        .group_by(t.c.interval_start)
        .having(func.count() == len(keys))
    ).all()
    return {r[0] for r in rows}


def intervals_with_status(
    session: Session, collector: str, status: str, start: datetime, end: datetime
) -> set[int]:
    """Unix seconds of the intervals of ``[start, end)`` some source of ``collector`` recorded ``status``
    for (gateway ``missing``: usage there, if any, was spread over a gap, so it is estimated)."""
    t = _table(SourceCoverage)
    rows = session.execute(
        select(_epoch(t.c.interval_start))
        .where(_between(SourceCoverage, start, end), t.c.collector == collector, t.c.status == status)
        .distinct()
    ).all()
    return {int(r[0]) for r in rows}


def log_chunk(session: Session, **values: Any) -> None:
    session.execute(insert(_table(CollectionLog)).values(**values))
