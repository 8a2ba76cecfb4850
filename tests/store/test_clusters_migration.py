"""Migration 20261204clus: existing rows become the default cluster's, keys end in cluster, and the analyst
views group by cluster; the same lines of two clusters may then coexist."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text

from attribution.store.migrate import alembic_config, upgrade

LINE = (
    "INSERT INTO attributed_costs (interval_start, pool, tenant, tier, estimated, kv_in_use_usd_micros,"
    " static_usd_micros, idle_usd_micros, unmeasured_usd_micros, total_usd_micros, kv_token_seconds,"
    " kv_byte_seconds, requests, prompt_tokens, generation_tokens{cluster})"
    " VALUES ('2026-11-02 00:00:00', 'small', 'a', '__none__', false, 0, :total, 0, 0, :total, 0, 0, 1, 0,"
    " 0{value})"
)


def test_old_rows_are_the_default_clusters_and_a_second_cluster_fits_beside_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "20261204views")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(LINE.format(cluster="", value="")), {"total": 700})
    upgrade(url, "20261204clus")
    with engine.begin() as conn:
        conn.execute(text(LINE.format(cluster=", cluster", value=", 'west'")), {"total": 300})
        lines = conn.execute(text("SELECT cluster, total_usd_micros FROM attributed_costs ORDER BY 1")).all()
        daily = conn.execute(
            text("SELECT tenant, cluster, total_usd_micros FROM daily_tenant_costs ORDER BY cluster")
        ).all()
    keys = {
        t: inspect(engine).get_pk_constraint(t)["constrained_columns"] for t in ("gpu_samples", "incidents")
    }
    engine.dispose()
    assert [tuple(r) for r in lines] == [("default", 700), ("west", 300)]
    assert daily == []  # the views read the rollups (none written here); they have a cluster column
    assert keys == {
        "gpu_samples": ["interval_start", "gpu_uuid", "part", "cluster"],
        "incidents": ["pool", "start_at", "cluster"],
    }


def test_a_single_cluster_database_goes_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    upgrade(url, "20261204clus")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(LINE.format(cluster="", value="")), {"total": 700})
    command.downgrade(alembic_config(url), "20261204views")
    with engine.connect() as conn:
        daily = conn.execute(text("SELECT tenant, total_usd_micros FROM daily_tenant_costs")).all()
    columns = {c["name"] for c in inspect(engine).get_columns("attributed_costs")}
    engine.dispose()
    assert daily == []  # the views are back, without a cluster column
    assert "cluster" not in columns
