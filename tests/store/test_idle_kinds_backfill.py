"""Migration 20261203idle3 backfills the kinds of idle of existing rows by its documented rule."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from attribution.store.migrate import upgrade

ROW = (
    "INSERT INTO attributed_costs (interval_start, pool, tenant, tier, estimated, kv_in_use_usd_micros,"
    " static_usd_micros, idle_usd_micros, unmeasured_usd_micros, total_usd_micros, kv_token_seconds,"
    " kv_byte_seconds, requests, prompt_tokens, generation_tokens)"
    " VALUES ('2026-11-02 00:00:00', :pool, 'a', '__none__', false, 0, 0, :idle, 0, :idle, 0, 0, 0, 0, 0)"
)


def test_old_rows_are_cold_on_cluster_pools_and_headroom_elsewhere(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "20261203inc18")
    engine = create_engine(url)
    with engine.begin() as conn:
        for pool, idle in (("__unallocated__", 700), ("__overhead__", 50), ("small", 300)):
            conn.execute(text(ROW), {"pool": pool, "idle": idle})
    upgrade(url, "20261203idle3")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pool, idle_usd_micros, idle_cold_usd_micros, idle_warm_usd_micros,"
                " kv_headroom_usd_micros FROM attributed_costs ORDER BY pool"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("__overhead__", 50, 50, 0, 0),
        ("__unallocated__", 700, 700, 0, 0),
        ("small", 300, 0, 0, 300),
    ]
