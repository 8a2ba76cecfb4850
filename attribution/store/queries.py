"""Plain query functions over a Session. The one dialect-specific piece, the upsert, lives here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

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
    for i in range(0, len(rows), BATCH_ROWS):
        session.execute(table.insert(), list(rows[i : i + BATCH_ROWS]))
    session.flush()
    return len(rows)


def _between(model: type[DeclarativeBase], start: datetime, end: datetime) -> Any:
    column = _table(model).c.interval_start
    return (column >= start) & (column < end)


def gpu_samples(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    t = _table(GpuSample)
    return session.execute(
        select(t.c.interval_start, t.c.gpu_uuid, t.c.gpu_type, t.c.pool).where(
            _between(GpuSample, start, end)
        )
    ).all()


def kv_samples(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    t = _table(KvSample)
    return session.execute(
        select(
            t.c.interval_start,
            t.c.pool,
            t.c.engine_id,
            t.c.kv_usage_ratio,
            t.c.kv_capacity_tokens,
            t.c.kv_bytes_per_token,
        ).where(_between(KvSample, start, end))
    ).all()


def tenant_usage(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    t = _table(TenantUsage)
    return session.execute(
        select(
            t.c.interval_start,
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
            func.sum(t.c.kv_token_seconds).label("kv_token_seconds"),
            func.sum(t.c.kv_byte_seconds).label("kv_byte_seconds"),
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
