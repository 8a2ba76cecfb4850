"""daily_line_sums.estimated_usd_micros; the analyst views read the rollups instead of the lines

Revision ID: 20261204views
Revises: 20261204recovery
Create Date: 2026-12-04 05:00:00+00:00

``estimated_usd_micros`` (the day's total on estimated lines) lets a window's estimated share be summed
from days (attribution/store/daysums.py); it is backfilled from the lines. The analyst views
(docs/analyst-views.md) keep their columns and rows but sum ``daily_line_sums`` (one row per day x pool x
tenant x tier) instead of ``attributed_costs`` (one per interval): the same integers, since every rollup is
the exact sum of its day's lines; ``memory_gib_hours`` is the sum of the days' sums, equal to the last bits.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204views"
down_revision: str | None = "20261204recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = {"daily_tenant_costs": "tenant", "daily_tier_costs": "tier", "daily_pool_costs": "pool"}
#: bytes per GiB x seconds per hour: KV byte-seconds to GiB-hours
GIB_HOUR_BYTE_SECONDS = 1024**3 * 3600
#: The measures of 20261204recovery's views (20261129v13w's, the three kinds of idle and recovery).
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


def view_sql(name: str, key: str, dialect: str, source: str, at: str) -> str:
    """The view ``name`` per UTC day and ``key`` over ``source`` (whose timestamp column is ``at``)."""
    # Postgres: the UTC calendar date of a timestamptz, and sums of bigint back to bigint (not numeric).
    # SQLite: timestamps are stored as UTC text, which date() reads; integer sums stay integers.
    day = f"({at} AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else f"date({at})"
    cast = "::bigint" if dialect == "postgresql" else ""
    measures = ",\n  ".join(f"SUM({m}){cast} AS {m}" for m in INTEGER_MEASURES)
    return (
        f"CREATE VIEW {name} AS\nSELECT\n  {day} AS day,\n  {key},\n"
        f"  SUM(kv_byte_seconds) / {GIB_HOUR_BYTE_SECONDS}.0 AS memory_gib_hours,\n  {measures}\n"
        f"FROM {source}\nGROUP BY {day}, {key}"
    )


def _recreate(source: str, at: str) -> None:
    dialect = op.get_bind().dialect.name
    for name, key in VIEWS.items():
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(view_sql(name, key, dialect, source, at))


def upgrade() -> None:
    for name in VIEWS:  # as 20261204recovery: no view may block SQLite's batch rebuild of a table
        op.execute(f"DROP VIEW IF EXISTS {name}")
    with op.batch_alter_table("daily_line_sums") as batch:
        batch.add_column(sa.Column("estimated_usd_micros", sa.BigInteger(), server_default="0", nullable=False))
    day = (
        "(date_trunc('day', a.interval_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        if op.get_bind().dialect.name == "postgresql"
        else "strftime('%Y-%m-%d 00:00:00.000000', a.interval_start)"
    )
    # one pass over the estimated lines (UPDATE ... FROM: Postgres, and SQLite since 3.33)
    op.execute(
        "UPDATE daily_line_sums SET estimated_usd_micros = e.amount FROM ("  # noqa: S608
        f"SELECT {day} AS day, a.pool, a.tenant, a.tier, sum(a.total_usd_micros) AS amount "
        f"FROM attributed_costs a WHERE a.estimated GROUP BY {day}, a.pool, a.tenant, a.tier) AS e "
        "WHERE daily_line_sums.day_start = e.day AND daily_line_sums.pool = e.pool "
        "AND daily_line_sums.tenant = e.tenant AND daily_line_sums.tier = e.tier"
    )
    _recreate("daily_line_sums", "day_start")


def downgrade() -> None:
    _recreate("attributed_costs", "interval_start")
    with op.batch_alter_table("daily_line_sums") as batch:
        batch.drop_column("estimated_usd_micros")
