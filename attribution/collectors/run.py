"""The collection run: for each chunk of the window, pull every source, then write it in one transaction.

Writes are upserts keyed by interval, so collecting a window twice leaves the database unchanged, and a
chunk is either wholly written or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors import gateway, gpu, kv
from attribution.collectors.prom import PromClient, chunks
from attribution.config import Settings
from attribution.store.queries import upsert
from attribution.store.session import unit_of_work
from attribution.store.tables import Coverage, GpuSample, KvSample, TenantUsage
from attribution.timeutil import align_window

Progress = Callable[[datetime, datetime], None]


@dataclass(slots=True)
class CollectionResult:
    rows_by_table: dict[str, int] = field(default_factory=dict)
    chunks: int = 0

    def add(self, table: str, n: int) -> None:
        self.rows_by_table[table] = self.rows_by_table.get(table, 0) + n


def collect_window(
    client: PromClient,
    settings: Settings,
    factory: sessionmaker[Session],
    start: datetime,
    end: datetime,
    progress: Progress | None = None,
) -> CollectionResult:
    start, end = align_window(start, end, settings.interval_seconds, settings.max_window_days)
    result = CollectionResult()
    for chunk_start, chunk_end in chunks(start, end, settings.interval_seconds):
        gpu_rows, gpu_seen = gpu.collect_gpu(client, settings, chunk_start, chunk_end)
        kv_rows, kv_seen = kv.collect_kv(client, settings, chunk_start, chunk_end)
        usage_rows, usage_seen = gateway.collect_gateway(client, settings, chunk_start, chunk_end)
        coverage = [
            {"source": source, "interval_start": t, "series": n}
            for source, seen in (
                (gpu.SOURCE, gpu_seen),
                (kv.SOURCE, kv_seen),
                (gateway.SOURCE, usage_seen),
            )
            for t, n in seen.items()
        ]
        with unit_of_work(factory) as session:
            result.add("gpu_samples", upsert(session, GpuSample, gpu_rows))
            result.add("kv_samples", upsert(session, KvSample, kv_rows))
            result.add("tenant_usage", upsert(session, TenantUsage, usage_rows))
            result.add("coverage", upsert(session, Coverage, coverage))
        result.chunks += 1
        if progress is not None:
            progress(chunk_start, chunk_end)
    return result
