"""clusters: a ``cluster`` column in every per-cluster table, last in each key; existing rows are 'default'

Revision ID: 20261204clus
Revises: 20261204views
Create Date: 2026-12-04 04:00:00+00:00

Issue 19 part 1 (docs/scale-out.md). The analyst views read ``daily_line_sums``, whose key changes: they
are dropped first (SQLite's batch mode rebuilds the table under them) and recreated grouped by cluster as
well, with their full definition as of 20261204views (over the rollups; idle kinds and recovery among the
measures).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204clus"
down_revision: str | None = "20261204views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_CLUSTER = "default"

#: table -> its primary key before this revision (``cluster`` is appended to it)
KEYED = {
    "gpu_samples": ("interval_start", "gpu_uuid", "part"),
    "kv_samples": ("interval_start", "pool", "engine_id"),
    "tenant_usage": ("interval_start", "pool", "tenant", "tier"),
    "coverage": ("source", "interval_start"),
    "cluster_costs": ("interval_start",),
    "pool_costs": ("interval_start", "pool"),
    "attributed_costs": ("interval_start", "pool", "tenant", "tier"),
    "daily_line_sums": ("day_start", "pool", "tenant", "tier"),
    "statement_lines": ("period", "charge_class", "charge_period", "pool", "tenant", "tier"),
    "incidents": ("pool", "start_at"),
    "collector_watermarks": ("collector", "source"),
    "source_coverage": ("collector", "source", "interval_start"),
}
#: tables that carry the cluster outside their key
UNKEYED = ("attribution_runs", "correction_lines", "collection_log", "dirty_windows")

VIEWS = {"daily_tenant_costs": "tenant", "daily_tier_costs": "tier", "daily_pool_costs": "pool"}
GIB_HOUR_BYTE_SECONDS = 1024**3 * 3600
INTEGER_MEASURES = (
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "kv_in_use_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "unmeasured_usd_micros",
    "total_usd_micros",
    "idle_cold_usd_micros",
    "idle_warm_usd_micros",
    "kv_headroom_usd_micros",
    "recovery_usd_micros",
)


def view_sql(name: str, key: str, dialect: str, *, clustered: bool) -> str:
    """20261204views' view (over ``daily_line_sums``), grouped by ``cluster`` too when ``clustered``."""
    day = "(day_start AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else "date(day_start)"
    cast = "::bigint" if dialect == "postgresql" else ""
    keys = f"{key}, cluster" if clustered else key
    measures = ",\n  ".join(f"SUM({m}){cast} AS {m}" for m in INTEGER_MEASURES)
    return (
        f"CREATE VIEW {name} AS\nSELECT\n  {day} AS day,\n  {keys},\n"
        f"  SUM(kv_byte_seconds) / {GIB_HOUR_BYTE_SECONDS}.0 AS memory_gib_hours,\n  {measures}\n"
        f"FROM daily_line_sums\nGROUP BY {day}, {keys}"
    )


def _cluster_column() -> sa.Column[str]:
    return sa.Column("cluster", sa.String(length=200), nullable=False, server_default=DEFAULT_CLUSTER)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table, key in KEYED.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(_cluster_column())
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(op.f(f"pk_{table}"), [*key, "cluster"])
    for table in UNKEYED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_cluster_column())
    for name, key in VIEWS.items():
        op.execute(view_sql(name, key, dialect, clustered=True))


def downgrade() -> None:
    """Only a database of one cluster goes back: two clusters' rows would collide on the old keys."""
    dialect = op.get_bind().dialect.name
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in UNKEYED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("cluster")
    for table, key in KEYED.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(op.f(f"pk_{table}"), list(key))
            batch.drop_column("cluster")
    for name, key in VIEWS.items():
        op.execute(view_sql(name, key, dialect, clustered=False))
