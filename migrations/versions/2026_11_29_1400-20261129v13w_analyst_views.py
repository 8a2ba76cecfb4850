"""analyst views: daily cost and memory-time by tenant, by tier and by pool (docs/analyst-views.md)

Plain SQL views over ``attributed_costs`` for BI tools: one row per UTC day and tenant (tier, pool), money
in integer micro-USD, memory-time in GiB-hours. Lines are summed whatever their storage grain, so the days
of a month sum exactly to the month's lines and to its cluster cost.

Revision ID: 20261129v13w
Revises: 20261129k3y1
Create Date: 2026-11-29 14:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261129v13w"
down_revision: str | None = "20261129k3y1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = {"daily_tenant_costs": "tenant", "daily_tier_costs": "tier", "daily_pool_costs": "pool"}
#: bytes per GiB x seconds per hour: KV byte-seconds to GiB-hours
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
)


def view_sql(name: str, key: str, dialect: str) -> str:
    # Postgres: the UTC calendar date of a timestamptz, and sums of bigint back to bigint (not numeric).
    # SQLite: timestamps are stored as UTC text, which date() reads; integer sums stay integers.
    day = "(interval_start AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else "date(interval_start)"
    cast = "::bigint" if dialect == "postgresql" else ""
    measures = ",\n  ".join(f"SUM({m}){cast} AS {m}" for m in INTEGER_MEASURES)
    return (
        f"CREATE VIEW {name} AS\nSELECT\n  {day} AS day,\n  {key},\n"
        f"  SUM(kv_byte_seconds) / {GIB_HOUR_BYTE_SECONDS}.0 AS memory_gib_hours,\n  {measures}\n"
        f"FROM attributed_costs\nGROUP BY {day}, {key}"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, key in VIEWS.items():
        op.execute(view_sql(name, key, dialect))


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
