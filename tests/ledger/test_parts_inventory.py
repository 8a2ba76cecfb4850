"""Review finding: MIG and shared GPUs of a type missing from the inventory were billed $0 without a word.

The bill is inventory x price, so a sampled GPU type outside the inventory is refused
(``check_prices_and_inventory``). The check read whole GPUs only (``IntervalTelemetry.gpus``): a type seen
only as MIG instances or shares (``IntervalTelemetry.shares``) passed it, and its cost was on no line.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from attribution.errors import ConfigError
from attribution.ledger.attribute import run_attribution
from tests.builders import T0, create_gpu_rows, small_cluster_settings, store

MINUTES = 5


def _mig_rows(minutes: int) -> list[dict[str, object]]:
    """One A100 40GB as a 3g.20gb instance serving ``small`` (4 of 8 memory slices) and free slices."""
    rows: list[dict[str, object]] = []
    for m in range(minutes):
        for part, pool, share in (("mig:1", "small", 500_000), ("mig-free", None, 500_000)):
            rows.append(
                {
                    "interval_start": T0 + timedelta(minutes=m),
                    "gpu_uuid": "GPU-mig",
                    "part": part,
                    "hostname": "node-2",
                    "gpu_model_name": "NVIDIA A100-SXM4-40GB",
                    "gpu_type": "A100-SXM-40GB",
                    "pool": pool,
                    "fb_used_bytes": None,
                    "fb_free_bytes": None,
                    "gpu_util_percent": None,
                    "gpu_share_ppm": share,
                }
            )
    return rows


def test_mig_type_missing_from_inventory_is_refused(pg_tx: sessionmaker[Session]) -> None:
    store(pg_tx, create_gpu_rows(MINUTES), [], [])
    store(pg_tx, _mig_rows(MINUTES), [], [])  # one executemany per row shape
    with pg_tx() as s:
        assert s.scalar(text("SELECT sum(gpu_share_ppm) FROM gpu_samples")) == MINUTES * 1_000_000
    with pytest.raises(ConfigError, match="'A100-SXM-40GB' were sampled in this window but are not in"):
        run_attribution(small_cluster_settings(), pg_tx, T0, T0 + timedelta(minutes=MINUTES))
