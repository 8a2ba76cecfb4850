"""Review findings on the merged GPU parts and dcgm-measured memory (store side, real Postgres and SQLite).

A pool's memory is the divisor of its KV/static split, so a MiB that differs between the two databases moves
micro-dollars between tenants and idle: the same samples must give the same ``measured_mib`` everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from attribution.store.inputs import GPU_COUNT_COLUMNS, gpu_counts
from attribution.store.tables import GpuSample
from attribution.store.writes import upsert

MIB = 1024 * 1024
T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _gpu(uuid: str, used_mib_halves: int, **extra: object) -> dict[str, object]:
    """A whole GPU whose mean FB_USED is ``used_mib_halves / 2`` MiB (a mean over an interval can end
    in half a MiB: readings of 100 and 101 MiB average to 100.5)."""
    row: dict[str, object] = {
        "interval_start": T0,
        "gpu_uuid": uuid,
        "part": "",
        "hostname": "node-1",
        "gpu_model_name": "NVIDIA H100 80GB HBM3",
        "gpu_type": "H100-80GB-SXM",
        "pool": "chat",
        "fb_used_bytes": used_mib_halves * MIB // 2,
        "fb_free_bytes": 0,
        "fb_reserved_bytes": 0,
        "gpu_util_percent": 50.0,
        "gpu_share_ppm": None,
        "problem": None,
    }
    row.update(extra)
    return row


def _measured_mib(factory: sessionmaker[Session], rows: list[dict[str, object]]) -> list[int]:
    with factory.begin() as s:
        upsert(s, GpuSample, rows)
    with factory() as s:
        got = gpu_counts(s, T0, T0 + timedelta(hours=1))
    at = GPU_COUNT_COLUMNS.index("measured_mib")
    return sorted(int(r[at]) for r in got)


def test_half_mib_rounds_the_same_in_postgres_and_sqlite(db_factory: sessionmaker[Session]) -> None:
    """100.5 MiB and 101.5 MiB are each a whole MiB away from two neighbours: the exporter's unit is a
    whole MiB, so they round half up (101 and 102, 203 MiB in all). Postgres' ``round(double)`` rounds half
    to even (100 + 102 = 202) where SQLite rounds half away from zero (203): one MiB of pool memory apart."""
    factory = db_factory
    rows = [_gpu("GPU-a", 201), _gpu("GPU-b", 203)]
    assert _measured_mib(factory, rows) == [101 + 102]
