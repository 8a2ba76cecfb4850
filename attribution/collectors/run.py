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
import queue
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from attribution.store.collection_state import CoverageStatus, mark_dirty, record_chunk
from attribution.store.column_copy import Names, upsert_columns
from attribution.store.session import unit_of_work
from attribution.store.stale_rows import clear_gpu_columns, clear_gpu_parts
from attribution.store.tables import GpuSample
from attribution.store.writes import bulk_upsert
from attribution.timeutil import align_window

Progress = Callable[[datetime, datetime], None]
Fetcher = Callable[[PromClient, Settings, Plan, datetime, datetime], Batch]
Window = tuple[datetime, datetime]

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
    statuses, series, rows = [], [], []
    step = timedelta(seconds=settings.interval_seconds)
    t = start
    while t < end:
        seen = 0 if t in batch.missing else batch.series.get(t, 0)
        status = CoverageStatus.MISSING if seen == 0 else CoverageStatus.PRESENT
        if seen and t in batch.estimated:
            status = CoverageStatus.ESTIMATED
        if seen and t in batch.unplaced:
            status = CoverageStatus.UNPLACED
        statuses.append(status.value)
        series.append(seen)
        rows.append(rows_per_interval.get(t, 0))
        t += step
    keys = {"collector": plan.collector.value, "source": plan.source.name, "cluster": settings.cluster}
    coverage = {**keys, "start": start, "step_seconds": settings.interval_seconds, "collected_at": now,
                "statuses": statuses, "series": series, "rows": rows}  # fmt: skip
    log = {**keys, "window_start": start, "window_end": end, "rows": written, "mode": mode,
           "replica": REPLICA, "committed_at": now}  # fmt: skip
    record_chunk(session, coverage, log)
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


Arrival = tuple[int, int, "Batch | BaseException"]
"""(plan index, chunk index, the chunk's batch or its read's error), as a lane's read ends."""


def chunk_windows(settings: Settings, start: datetime, end: datetime) -> list[Window]:
    """``[start, end)`` widened to whole intervals and cut into the chunks :func:`collect_window` reads
    and commits one by one (``collection.chunk_intervals`` each)."""
    start, end = align_window(start, end, settings.interval_seconds, settings.max_window_days)
    return list(chunks(start, end, settings.interval_seconds, settings.collection.chunk_intervals))


class _Lane:
    """One plan's reads, chunk after chunk, in a thread of its own, at most two chunks ahead of the writes:
    chunk ``j`` is read once chunk ``j - 2`` of this plan is written (:meth:`written`). So a plan that
    reads fast (GPU, KV) reads its next chunk while a slow one (the gateway's counters) still reads this
    one, and the source's query slots stay busy; at most two chunks of each plan are held, as before.
    Each read's batch, or its error, goes to ``arrivals`` as it ends; a failed read ends the lane."""

    def __init__(
        self,
        index: int,
        plan: Plan,
        client: PromClient,
        settings: Settings,
        windows: list[Window],
        arrivals: queue.SimpleQueue[Arrival],
    ) -> None:
        self._work = (index, plan, client, settings, windows, arrivals)
        self._slots = threading.Semaphore(2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"collect-plan-{plan.collector.value}")
        self._thread.start()

    def _run(self) -> None:
        index, plan, client, settings, windows, arrivals = self._work
        for j, window in enumerate(windows):
            self._slots.acquire()
            if self._stop.is_set():
                return
            try:
                arrivals.put((index, j, fetch(client, settings, plan, *window)))
            except BaseException as exc:
                arrivals.put((index, j, exc))
                return

    def written(self) -> None:
        """A chunk of this plan is written (committed): the lane may read one more."""
        self._slots.release()

    def stop(self) -> None:
        """No more reads; wait for the one under way, if any, to end."""
        self._stop.set()
        self._slots.release(2)
        self._thread.join()


class _Chunks:
    """The lanes' batches by chunk: :meth:`batches` yields chunk ``j``'s, each as soon as its read has
    ended, whatever the plan, holding back any later chunk's that arrive first."""

    def __init__(self, arrivals: queue.SimpleQueue[Arrival]) -> None:
        self._arrivals = arrivals
        self._early: dict[tuple[int, int], Batch | BaseException] = {}

    def batches(self, j: int, plans: int) -> Iterator[tuple[int, Batch | BaseException]]:
        """Chunk ``j``'s ``plans`` batches (or errors) by plan index, in the order their reads ended."""
        for _ in range(plans):
            found = next((key for key in self._early if key[1] == j), None)
            while found is None:
                index, chunk, batch = self._arrivals.get()
                self._early[(index, chunk)] = batch
                found = (index, chunk) if chunk == j else None
            yield found[0], self._early.pop(found)


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

    Each plan reads its chunks in turn, in a thread of its own (:class:`_Lane`), up to two chunks ahead
    of the writes; each plan's rows are written as soon as they are read, in the order the reads end
    (the GPU rows while the gateway's counters are still read, or the other way round: so the chunk's
    last write is only the last read's, not every plan's after it), and a plan reads its next chunk
    while the others still read this one (Prometheus evaluates, Postgres writes and Python parses at the
    same time): at most two chunks of each plan are held at once. Which plan's rows go first changes
    nothing stored: each plan writes its own rows and coverage, by upsert. Chunks are still written, and
    committed, in order, each in its own transaction; a failed read raises once every read of its chunk
    has ended (the first plan's error, in plan order, whichever ended first), after every earlier chunk
    is committed, and rolls back what its own chunk had written.
    """
    todo = list(selected) if selected is not None else plans(settings)
    clients = clients_for(settings, todo, client)
    result = CollectionResult()
    windows = chunk_windows(settings, start, end)
    arrivals: queue.SimpleQueue[Arrival] = queue.SimpleQueue()
    lanes: list[_Lane] = []
    if windows:  # a lane's thread starts with it
        lanes = [_Lane(i, p, clients[p.source.name], settings, windows, arrivals) for i, p in enumerate(todo)]
    read = _Chunks(arrivals)
    try:
        if lanes:  # connect while the first chunk is read, not after it: the first write waited for it
            with factory() as session:
                session.connection()
        for j, (chunk_start, chunk_end) in enumerate(windows):
            with unit_of_work(factory) as session, gc_paused():
                failed: dict[int, BaseException] = {}
                for i, batch in read.batches(j, len(todo)):  # each written as soon as it is read
                    if isinstance(batch, BaseException):
                        failed[i] = batch
                    elif not failed:  # a chunk with a failed read is rolled back: nothing more to write
                        n = write(session, settings, todo[i], batch, (chunk_start, chunk_end), "backfill")
                        result.add(batch.table.__tablename__, n)
                    del batch
                if failed:  # every read of the chunk ended: the first plan's error, whatever ended first
                    raise failed[min(failed)]
                mark_dirty(session, chunk_start, chunk_end, "backfill", datetime.now(UTC), settings.cluster)
            for lane in lanes:
                lane.written()
            result.chunks += 1
            if progress is not None:
                progress(chunk_start, chunk_end)
    finally:
        for lane in lanes:
            lane.stop()
        for made in clients.values():
            made.close()
    return result
