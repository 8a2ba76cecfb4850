"""Pulling a window from a source through a profile, and writing it, idempotently, with its coverage.

:func:`fetch` reads one (source, collector) plan for one window; :func:`write` upserts the rows, the
coverage of every interval (present, missing or estimated) and a log line, in the caller's transaction.
:func:`collect_window` is the backfill (``attribution collect --start --end``, the demo, the tests): every
plan, chunk by chunk, one transaction per chunk. Writes are upserts keyed by interval, so collecting a
window twice leaves the database unchanged, and a chunk is either wholly written or not at all. A backfill
does not move collectors' watermarks; it marks each chunk it wrote as a dirty window, so a running
scheduler re-attributes what changed, and only that (:mod:`attribution.scheduler.attribute_loop`).
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.batch import Batch
from attribution.collectors.gateway import collect_gateway
from attribution.collectors.gpu import collect_gpu
from attribution.collectors.kv import collect_kv
from attribution.collectors.profiles import Plan, plans
from attribution.collectors.prom import PromClient, chunks
from attribution.config import CollectorName, Settings
from attribution.model.gcpause import gc_paused
from attribution.store.collection_state import CoverageStatus, log_chunk, mark_dirty, write_source_coverage
from attribution.store.column_copy import Names, upsert_columns
from attribution.store.session import unit_of_work
from attribution.store.tables import GpuSample
from attribution.store.writes import bulk_upsert, clear_gpu_columns, clear_gpu_parts
from attribution.timeutil import align_window

Progress = Callable[[datetime, datetime], None]
Fetcher = Callable[[PromClient, Settings, Plan, datetime, datetime], Batch]

FETCHERS: dict[CollectorName, Fetcher] = {
    CollectorName.GPU: collect_gpu,
    CollectorName.KV: collect_kv,
    CollectorName.GATEWAY: collect_gateway,
}
REPLICA = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class CollectionResult:
    rows_by_table: dict[str, int] = field(default_factory=dict)
    chunks: int = 0

    def add(self, table: str, n: int) -> None:
        self.rows_by_table[table] = self.rows_by_table.get(table, 0) + n


def fetch(client: PromClient, settings: Settings, plan: Plan, start: datetime, end: datetime) -> Batch:
    """One plan's batch for ``[start, end)``, built with the cyclic GC paused (``gc_paused``)."""
    with gc_paused():
        return FETCHERS[plan.collector](client, settings, plan, start, end)


def write(
    session: Session,
    settings: Settings,
    plan: Plan,
    batch: Batch,
    window: tuple[datetime, datetime],
    mode: str,
) -> int:
    """Upsert ``batch`` and the coverage of every interval of ``window``; log the chunk. No commit."""
    start, end = window
    now = datetime.now(UTC)
    if batch.columns is not None:  # rows as columns: one numpy-built COPY
        columns = {**batch.columns.columns, "cluster": settings.cluster}
        if batch.table is GpuSample:
            uuids = columns["gpu_uuid"]
            assert isinstance(uuids, Names)
            names = uuids.names
            starts = batch.columns.interval_starts().tolist()
            clear_gpu_columns(session, starts, [names[c] for c in uuids.codes.tolist()], settings.cluster)
        written = upsert_columns(session, batch.table, columns, batch.columns.rows)
        rows_per_interval: Mapping[datetime, int] = batch.columns.per_interval()
    else:
        for row in batch.rows:
            row["cluster"] = settings.cluster
        if batch.table is GpuSample:
            clear_gpu_parts(session, batch.rows)
        written = bulk_upsert(session, batch.table, batch.rows)
        rows_per_interval = Counter(map(itemgetter("interval_start"), batch.rows))
    coverage = []
    step = timedelta(seconds=settings.interval_seconds)
    t = start
    while t < end:
        series = 0 if t in batch.missing else batch.series.get(t, 0)
        status = CoverageStatus.MISSING if series == 0 else CoverageStatus.PRESENT
        if series and t in batch.estimated:
            status = CoverageStatus.ESTIMATED
        if series and t in batch.unplaced:
            status = CoverageStatus.UNPLACED
        coverage.append(
            {
                "collector": plan.collector.value,
                "source": plan.source.name,
                "cluster": settings.cluster,
                "interval_start": t,
                "status": status.value,
                "series": series,
                "rows": rows_per_interval.get(t, 0),
                "collected_at": now,
            }
        )
        t += step
    write_source_coverage(session, coverage)
    log_chunk(
        session,
        collector=plan.collector.value,
        source=plan.source.name,
        cluster=settings.cluster,
        window_start=start,
        window_end=end,
        rows=written,
        mode=mode,
        replica=REPLICA,
        committed_at=now,
    )
    return written


def clients_for(
    settings: Settings, selected: Sequence[Plan], client: PromClient | None = None
) -> dict[str, PromClient]:
    """One client per source; ``client``, when given, serves the first configured source."""
    out: dict[str, PromClient] = {}
    first = settings.effective_sources()[0].name
    for plan in selected:
        name = plan.source.name
        if name not in out:
            given = client if client is not None and name == first else None
            out[name] = given or PromClient.for_source(
                plan.source, settings.collection.retry, settings.collection.max_series_per_query
            )
    return out


def _all_read(chunk: list[tuple[Plan, Future[Batch]]]) -> bool:
    """Every plan of the chunk still to be written read, none failed (the written ones were read without
    failing; a failed chunk does not start the next one's reads)."""
    return all(f.done() and f.exception() is None for _, f in chunk)


def collect_window(
    client: PromClient | None,
    settings: Settings,
    factory: sessionmaker[Session],
    start: datetime,
    end: datetime,
    progress: Progress | None = None,
    *,
    selected: Sequence[Plan] | None = None,
) -> CollectionResult:
    """Backfill ``[start, end)`` (widened to whole intervals) from every plan, or the ``selected`` ones.

    The plans of a chunk are read side by side, each plan's rows are written as soon as they are read
    (the GPU rows while the gateway's counters are still read), and the next chunk is read once this one
    is, while it is written (Prometheus evaluates, Postgres writes and Python parses at the same time):
    at most two chunks are held at once. Chunks are still written, and committed, in order, each in its
    own transaction; a failed read raises when its chunk's turn comes, after every earlier chunk is
    committed, and rolls back what its own chunk had written.
    """
    start, end = align_window(start, end, settings.interval_seconds, settings.max_window_days)
    todo = list(selected) if selected is not None else plans(settings)
    clients = clients_for(settings, todo, client)
    result = CollectionResult()
    windows = list(chunks(start, end, settings.interval_seconds, settings.collection.chunk_intervals))
    reader = ThreadPoolExecutor(max(1, len(todo)), thread_name_prefix="collect-plan")

    def read(window: tuple[datetime, datetime]) -> list[tuple[Plan, Future[Batch]]]:
        return [(p, reader.submit(fetch, clients[p.source.name], settings, p, *window)) for p in todo]

    pending = read(windows[0]) if windows else []
    try:
        if pending:  # connect while the first chunk is read, not after it: the first write waited for it
            with factory() as session:
                session.connection()
        for i, (chunk_start, chunk_end) in enumerate(windows):
            current, pending = pending, []
            with unit_of_work(factory) as session, gc_paused():
                while current:  # each plan written once read, while later ones still read
                    plan, future = current.pop(0)  # nothing holds a written batch (its future went too)
                    batch = future.result()
                    del future
                    if not pending and i + 1 < len(windows) and _all_read(current):
                        pending = read(windows[i + 1])  # this chunk is all read: at most two held
                    n = write(session, settings, plan, batch, (chunk_start, chunk_end), "backfill")
                    result.add(batch.table.__tablename__, n)
                    del batch
                mark_dirty(session, chunk_start, chunk_end, "backfill", datetime.now(UTC), settings.cluster)
            del current
            result.chunks += 1
            if progress is not None:
                progress(chunk_start, chunk_end)
    finally:
        for _, future in pending:
            future.cancel()
        reader.shutdown(wait=True)
        for made in clients.values():
            made.close()
    return result
