"""Collection state: where each collector stands per source, what each interval had, and what ran.

* ``collector_watermarks``: one row per (collector, source). ``watermark`` is the end (exclusive) of the
  window collected and committed so far; a run collects ``[watermark, now - safety lag)``. The row is the
  lock two scheduler replicas contend for (``SELECT ... FOR UPDATE SKIP LOCKED`` on Postgres), and it is
  advanced in the same transaction that writes the chunk, so data and watermark commit together.
* ``source_coverage``: per (collector, source, interval) whether the source had data (``present``), had
  none (``missing``), had data from which a signal was estimated (``estimated``, e.g. KV token-seconds
  from tokens x latency), or had series it could not place (``unplaced``, e.g. a MIG instance of unknown
  profile). The evidence behind every ``__unmeasured__`` or estimated line.
* ``collection_log``: one row per committed chunk: the audit that shows each window was collected once.
* ``dirty_windows``: windows whose inputs changed behind the attribution job, to re-attribute.

The tables and the functions that read and advance them live here together; like every store function,
these flush at most, never commit: the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from attribution.store.chunk_record import record_chunk_pg
from attribution.store.dialect import is_postgres, upsert_insert
from attribution.store.expressions import AnyRow, between, epoch, table_of
from attribution.store.tables import DEFAULT_CLUSTER, Base, Coverage
from attribution.store.writes import bulk_upsert

#: Collector names are short identifiers (gpu, kv, gateway, attribution); sources are configured names.
#: The attribution job's watermark row (collector ``attribution``, source ``*``): attributed up to here.
#: Not a source: coverage leaves it out of the sources it lists.
ATTRIBUTION = "attribution"
ALL_SOURCES = "*"

COLLECTOR = String(40)
SOURCE = String(100)
#: ``BIGSERIAL`` on Postgres; SQLite needs ``INTEGER PRIMARY KEY`` for its row id to autoincrement.
LOG_ID = BigInteger().with_variant(Integer(), "sqlite")


class CoverageStatus(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    ESTIMATED = "estimated"
    UNPLACED = "unplaced"
    """Data arrived, but some series could not be placed (e.g. a MIG instance of unknown profile):
    their share of the cost is on ``__unmeasured__``."""


class CollectorWatermark(Base):
    """How far one collector has collected from one source; also the row that serialises replicas."""

    __tablename__ = "collector_watermarks"

    collector: Mapped[str] = mapped_column(COLLECTOR, primary_key=True)
    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    watermark: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class SourceCoverage(Base):
    """Whether one source had data for one collector in one interval, and how much."""

    __tablename__ = "source_coverage"
    __table_args__ = (
        CheckConstraint("status IN ('present', 'missing', 'estimated', 'unplaced')", name="status"),
        Index("ix_source_coverage_interval_start", "interval_start"),
    )

    collector: Mapped[str] = mapped_column(COLLECTOR, primary_key=True)
    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    series: Mapped[int] = mapped_column(Integer)
    """Series (GPUs, engines, tenant x tier groups) with a value in the interval."""
    rows: Mapped[int] = mapped_column(Integer)
    collected_at: Mapped[datetime]
    cluster: Mapped[str] = mapped_column(primary_key=True, server_default=DEFAULT_CLUSTER)


class CollectionLog(Base):
    """One committed chunk of one collector from one source."""

    __tablename__ = "collection_log"
    __table_args__ = (Index("ix_collection_log_window", "collector", "source", "window_start"),)

    id: Mapped[int] = mapped_column(LOG_ID, primary_key=True, autoincrement=True)
    collector: Mapped[str] = mapped_column(COLLECTOR)
    source: Mapped[str] = mapped_column(SOURCE)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    rows: Mapped[int]
    mode: Mapped[str] = mapped_column(String(16))
    """``scheduled`` (advanced the watermark) or ``backfill`` (``attribution collect``)."""
    replica: Mapped[str] = mapped_column(String(200))
    """host:pid of the process that committed it."""
    committed_at: Mapped[datetime]
    cluster: Mapped[str] = mapped_column(server_default=DEFAULT_CLUSTER)


class DirtyWindow(Base):
    """A window whose stored inputs changed behind the attribution job (a backfill, a re-collected gap).

    The attribution job re-attributes each such window (widened to whole settlement windows) and deletes
    the row in the transaction that holds its watermark lock, so late data re-attributes only what it
    touched, never everything since.
    """

    __tablename__ = "dirty_windows"

    id: Mapped[int] = mapped_column(LOG_ID, primary_key=True, autoincrement=True)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    marked_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(40))
    cluster: Mapped[str] = mapped_column(server_default=DEFAULT_CLUSTER)


# --- reading and advancing the state ---------------------------------------------------------------


def ensure_watermark(
    session: Session,
    collector: str,
    source: str,
    initial: datetime,
    now: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> None:
    """Create the (collector, source, cluster) watermark at ``initial`` unless it exists."""
    t = table_of(CollectorWatermark)
    values = {"collector": collector, "source": source, "cluster": cluster, "watermark": initial}
    values["updated_at"] = now
    session.execute(
        upsert_insert(session, t).values(consecutive_failures=0, **values).on_conflict_do_nothing()
    )


def lock_watermark(
    session: Session, collector: str, source: str, cluster: str = DEFAULT_CLUSTER
) -> CollectorWatermark | None:
    """The watermark row, locked until the transaction ends; None if another transaction holds it.

    Postgres: ``SELECT ... FOR UPDATE SKIP LOCKED``, so a second scheduler replica skips the run instead of
    queueing behind the first. SQLite has no row locks: it serves one process (docs/collectors.md). Each
    cluster has its own rows, so one cluster's stuck collection or attribution never holds another's.
    """
    w = CollectorWatermark
    stmt = (
        select(w)
        .where(w.collector == collector, w.source == source, w.cluster == cluster)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(stmt).one_or_none()


def advance_watermark(
    session: Session,
    collector: str,
    source: str,
    to: datetime,
    now: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> None:
    t = table_of(CollectorWatermark)
    session.execute(
        update(t)
        .where(t.c.collector == collector, t.c.source == source, t.c.cluster == cluster)
        .values(watermark=to, updated_at=now, last_success_at=now, consecutive_failures=0)
    )


def record_failure(
    session: Session,
    collector: str,
    source: str,
    error: str,
    now: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> None:
    t = table_of(CollectorWatermark)
    session.execute(
        update(t)
        .where(t.c.collector == collector, t.c.source == source, t.c.cluster == cluster)
        .values(
            last_error=error[:2000],
            last_error_at=now,
            updated_at=now,
            consecutive_failures=t.c.consecutive_failures + 1,
        )
    )


#: The reason of a mark the attribution loop leaves on a window whose idle read its period's weights
#: before the period was complete: it is due (re-attributed once) when the loop's watermark reaches the
#: period's end, and only then; a run over the window does not clear it as it clears the others.
PERIOD_FALLBACK = "period_fallback"


def mark_dirty(
    session: Session,
    start: datetime,
    end: datetime,
    reason: str,
    now: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> None:
    """Record that the inputs of ``[start, end)`` of ``cluster`` changed after they may have been
    attributed."""
    values = {"window_start": start, "window_end": end, "marked_at": now, "reason": reason}
    session.execute(insert(table_of(DirtyWindow)).values(cluster=cluster, **values))


def dirty_windows(session: Session, cluster: str = DEFAULT_CLUSTER) -> Sequence[DirtyWindow]:
    d = DirtyWindow
    return session.scalars(select(d).where(d.cluster == cluster).order_by(d.window_start, d.id)).all()


def pending_marks(session: Session, start: datetime, end: datetime, reason: str) -> int:
    """How many dirty marks of ``reason`` overlap ``[start, end)``, in any cluster."""
    d = DirtyWindow
    found = select(func.count()).where(d.reason == reason, d.window_start < end, d.window_end > start)
    return int(session.scalar(found) or 0)


def clear_dirty(session: Session, ids: Iterable[int]) -> None:
    session.execute(delete(table_of(DirtyWindow)).where(table_of(DirtyWindow).c.id.in_(list(ids))))


def known_clusters(session: Session) -> list[str]:
    """The clusters with a watermark: every cluster a scheduler (or ``attribution attribute``) has run for."""
    w = CollectorWatermark
    return [str(c) for c in session.scalars(select(w.cluster).distinct().order_by(w.cluster))]


def all_watermarks(session: Session, cluster: str | None = None) -> Sequence[CollectorWatermark]:
    """Every watermark, or one cluster's, by collector, source and cluster."""
    w = CollectorWatermark
    stmt = select(w).order_by(w.collector, w.source, w.cluster)
    return session.scalars(stmt if cluster is None else stmt.where(w.cluster == cluster)).all()


def write_source_coverage(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Store per-source coverage rows, then refresh the per-collector ``coverage`` summary for the same
    intervals (``series`` summed over sources that had data) in the same transaction."""
    if not rows:
        return
    bulk_upsert(session, SourceCoverage, rows)
    sc, t = table_of(SourceCoverage), table_of(Coverage)
    keys = {(str(r["collector"]), str(r.get("cluster", DEFAULT_CLUSTER))) for r in rows}
    for collector, cluster in sorted(keys):
        mine = [r["interval_start"] for r in rows if r["collector"] == collector]
        present = case((sc.c.status != CoverageStatus.MISSING.value, sc.c.series), else_=0)
        summary = (
            select(sc.c.collector, sc.c.interval_start, func.sum(present), sc.c.cluster)
            .where(sc.c.collector == collector, sc.c.cluster == cluster)
            .where(sc.c.interval_start.between(min(mine), max(mine)))
            .group_by(sc.c.collector, sc.c.interval_start, sc.c.cluster)
        )
        columns = ["source", "interval_start", "series", "cluster"]
        stmt = upsert_insert(session, t).from_select(columns, summary)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["source", "interval_start", "cluster"], set_={"series": stmt.excluded.series}
            )
        )
    session.flush()


def source_coverage(
    session: Session, start: datetime, end: datetime, collector: str | None = None
) -> Sequence[AnyRow]:
    """Per (collector, source, status): how many intervals of ``[start, end)`` (every cluster's), for
    reports and the CLI."""
    t = table_of(SourceCoverage)
    keys = (t.c.collector, t.c.source, t.c.status)
    stmt = select(*keys, func.count().label("intervals")).where(between(SourceCoverage, start, end))
    if collector is not None:
        stmt = stmt.where(t.c.collector == collector)
    return session.execute(stmt.group_by(*keys).order_by(*keys)).all()


def source_coverage_by_cluster(session: Session, start: datetime, end: datetime) -> Sequence[AnyRow]:
    """Per (collector, source, cluster, status): how many intervals of ``[start, end)``; a source of one
    cluster never makes up for the same-named source of another."""
    t = table_of(SourceCoverage)
    keys = (t.c.collector, t.c.source, t.c.cluster, t.c.status)
    stmt = select(*keys, func.count().label("intervals")).where(between(SourceCoverage, start, end))
    return session.execute(stmt.group_by(*keys).order_by(*keys)).all()


def intervals_covered_by_all(
    session: Session,
    keys: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> set[datetime]:
    """The intervals of ``[start, end)`` with a coverage row (any status) from every (collector, source)
    of ``keys``: collected by all of them, whether or not they had data."""
    t = table_of(SourceCoverage)
    pairs = [(t.c.collector == c) & (t.c.source == s) for c, s in keys]
    rows = session.execute(
        select(t.c.interval_start)
        .where(between(SourceCoverage, start, end), or_(*pairs), t.c.cluster == cluster)
        .group_by(t.c.interval_start)
        .having(func.count() == len(keys))
    ).all()
    return {r[0] for r in rows}


def intervals_with_status(
    session: Session,
    collector: str,
    status: str,
    start: datetime,
    end: datetime,
    cluster: str = DEFAULT_CLUSTER,
) -> set[int]:
    """Unix seconds of the intervals of ``[start, end)`` some source of ``collector`` recorded ``status``
    for (gateway ``missing``: usage there, if any, was spread over a gap, so it is estimated)."""
    t = table_of(SourceCoverage)
    rows = session.execute(
        select(epoch(t.c.interval_start))
        .where(between(SourceCoverage, start, end), t.c.collector == collector, t.c.status == status)
        .where(t.c.cluster == cluster)
        .distinct()
    ).all()
    return {int(r[0]) for r in rows}


def log_chunk(session: Session, **values: Any) -> None:
    session.execute(insert(table_of(CollectionLog)).values(**values))


def record_chunk(session: Session, coverage: Mapping[str, Any], log: Mapping[str, Any]) -> None:
    """A written chunk's coverage (collector, source, cluster, start, step_seconds, collected_at, and per
    interval of the window its ``statuses``, ``series`` and ``rows``), the collector's coverage summary
    for those intervals, and its log row ``log``: on Postgres in one round trip
    (:mod:`attribution.store.chunk_record`), elsewhere by :func:`write_source_coverage` and
    :func:`log_chunk`."""
    step = timedelta(seconds=coverage["step_seconds"])
    if is_postgres(session):
        last = coverage["start"] + (len(coverage["statuses"]) - 1) * step  # no interval: nothing between
        record_chunk_pg(session, {**coverage, "last": last}, log)
        return
    keys = {k: coverage[k] for k in ("collector", "source", "cluster", "collected_at")}
    rows = [
        {
            **keys,
            "interval_start": coverage["start"] + i * step,
            "status": status,
            "series": series,
            "rows": n,
        }
        for i, (status, series, n) in enumerate(
            zip(coverage["statuses"], coverage["series"], coverage["rows"], strict=True)
        )
    ]
    write_source_coverage(session, rows)
    log_chunk(session, **log)


def coverage_counts(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Per collector, the intervals of ``[start, end)`` whose summary shows any series with data."""
    t = table_of(Coverage)
    rows = session.execute(
        select(t.c.source, func.count())
        .where(between(Coverage, start, end), t.c.series > 0)
        .group_by(t.c.source)
    ).all()
    return {str(source): int(n) for source, n in rows}
