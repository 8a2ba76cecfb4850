"""Review finding: re-collecting an interval whose GPU is now read as other parts left the old parts.

``gpu_samples`` is keyed by (interval, GPU, part) and written by upsert, which was a replace while every
GPU had one row. With parts, a GPU read once as a whole GPU (one pod's series had arrived) and, on a
re-collection of the same window, as a shared GPU (two pods and the free memory) kept both: the GPU then
weighs two GPUs (one whole, one million ppm) and its pool takes part of the other pools' cost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from attribution.collectors.batch import Batch
from attribution.collectors.profiles import plans
from attribution.collectors.run import write
from attribution.config import CollectorName, load_settings
from attribution.store.inputs import GPU_COUNT_COLUMNS, gpu_counts
from attribution.store.session import unit_of_work
from attribution.store.tables import GpuSample
from tests.builders import T0

WINDOW = (T0, T0 + timedelta(minutes=1))
SETTINGS = load_settings(
    database_url="sqlite://",
    inventory={"H100-SXM": 2},
    gpu_prices=[{"gpu_type": "H100-SXM", "usd_per_gpu_hour": "3.60"}],
    sources=[{"name": "dcgm", "url": "http://127.0.0.1:9", "profiles": ["dcgm"]}],
)


def _row(uuid: str, part: str, pool: str | None, share: int | None) -> dict[str, Any]:
    return {
        "interval_start": T0,
        "gpu_uuid": uuid,
        "part": part,
        "hostname": "node-1",
        "gpu_model_name": "NVIDIA H100 80GB HBM3",
        "gpu_type": "H100-SXM",
        "pool": pool,
        "fb_used_bytes": None,
        "fb_free_bytes": None,
        "fb_reserved_bytes": None,
        "gpu_util_percent": None,
        "gpu_share_ppm": share,
        "problem": None,
    }


def _collect(factory: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    plan = next(p for p in plans(SETTINGS) if p.collector is CollectorName.GPU)
    batch = Batch(GpuSample, rows)
    batch.saw(T0)
    with unit_of_work(factory) as session:
        write(session, SETTINGS, plan, batch, WINDOW, "backfill")


def test_recollected_gpu_keeps_only_its_new_parts(pg_tx: sessionmaker[Session]) -> None:
    other = _row("GPU-b", "", "batch", None)
    _collect(pg_tx, [_row("GPU-a", "", "chat", None), other])
    shared = [
        _row("GPU-a", "pod:ns/chat-0/vllm", "chat", 400_000),
        _row("GPU-a", "pod:ns/chat-1/vllm", "chat", 350_000),
        _row("GPU-a", "free", None, 250_000),
    ]
    _collect(pg_tx, [*shared, other])
    with pg_tx() as session:
        counts = [dict(zip(GPU_COUNT_COLUMNS, r, strict=True)) for r in gpu_counts(session, *WINDOW)]
    chat = [(int(r["gpus"]), int(r["share_ppm"])) for r in counts if r["pool"] == "chat"]
    assert chat == [(0, 750_000)], "the whole-GPU row of the first read is still counted"
    assert (
        sum(int(r["gpus"]) for r in counts) * 1_000_000 + sum(int(r["share_ppm"]) for r in counts)
        == 2_000_000
    )
