"""recovery: a recovery_usd_micros column on every kind of line and on pool_costs; analyst views with it

Revision ID: 20261204recovery
Revises: 20261204power
Create Date: 2026-12-04 05:00:00+00:00

The cost of a pool-interval inside a recovery incident (issue 18, docs/insights.md "Recovery incidents")
is its own component, ``recovery``, on ``attributed_costs``, ``daily_line_sums``, ``statement_lines``,
``correction_lines`` and ``pool_costs``. New columns default to 0: lines written before the component
existed booked those intervals as idle or static, and keep them so (closed statements are frozen);
re-attributing an open period's window moves them to recovery. The analyst views are recreated with the
full definition of 20261129v13w plus ``recovery_usd_micros`` and the three kinds of idle.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204recovery"
down_revision: str | None = "20261204power"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("attributed_costs", "daily_line_sums", "statement_lines", "correction_lines", "pool_costs")
VIEWS = {"daily_tenant_costs": "tenant", "daily_tier_costs": "tier", "daily_pool_costs": "pool"}
#: bytes per GiB x seconds per hour: KV byte-seconds to GiB-hours
GIB_HOUR_BYTE_SECONDS = 1024**3 * 3600
BEFORE = (
    "requests",
    "prompt_tokens",
    "generation_tokens",
    "kv_in_use_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "unmeasured_usd_micros",
    "total_usd_micros",
)
AFTER = (
    *BEFORE,
    "idle_cold_usd_micros",
    "idle_warm_usd_micros",
    "kv_headroom_usd_micros",
    "recovery_usd_micros",
)


def view_sql(name: str, key: str, dialect: str, measures: Sequence[str]) -> str:
    """As in 20261129v13w: the UTC day of each line, sums of bigint kept bigint on Postgres."""
    day = "(interval_start AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else "date(interval_start)"
    cast = "::bigint" if dialect == "postgresql" else ""
    sums = ",\n  ".join(f"SUM({m}){cast} AS {m}" for m in measures)
    return (
        f"CREATE VIEW {name} AS\nSELECT\n  {day} AS day,\n  {key},\n"
        f"  SUM(kv_byte_seconds) / {GIB_HOUR_BYTE_SECONDS}.0 AS memory_gib_hours,\n  {sums}\n"
        f"FROM attributed_costs\nGROUP BY {day}, {key}"
    )


def _views(measures: Sequence[str]) -> None:
    dialect = op.get_bind().dialect.name
    for name, key in VIEWS.items():
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(view_sql(name, key, dialect, measures))


def upgrade() -> None:
    for name in VIEWS:  # SQLite's batch mode rebuilds the table, which a view on it would block
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("recovery_usd_micros", sa.BigInteger(), server_default="0", nullable=False)
            )
    _views(AFTER)


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("recovery_usd_micros")
    _views(BEFORE)
