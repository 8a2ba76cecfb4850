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
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from attribution.store.tables import Base

#: Collector names are short identifiers (gpu, kv, gateway, attribution); sources are configured names.
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
