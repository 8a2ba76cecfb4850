"""daily_line_sums: the lines summed per UTC day x pool x tenant x tier, backfilled from existing lines

Revision ID: 20261203rollups
Revises: 20261203idle3
Create Date: 2026-12-03 20:20:00+00:00

The attribution job rewrites the days it touches in the transaction that writes their lines
(attribution/store/rollups.py); this backfills the days already attributed with one INSERT ... SELECT.
Float columns are summed in the lines' key order on Postgres, as the job sums them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203rollups"
down_revision: str | None = "20261203idle3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = (
    "kv_in_use_usd_micros",
    "static_usd_micros",
    "idle_usd_micros",
    "unmeasured_usd_micros",
    "idle_cold_usd_micros",
    "idle_warm_usd_micros",
    "kv_headroom_usd_micros",
)
COUNTS = ("total_usd_micros", "requests", "prompt_tokens", "generation_tokens")
FLOATS = ("kv_token_seconds", "kv_byte_seconds")


def upgrade() -> None:
    op.create_table(
        "daily_line_sums",
        sa.Column("day_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pool", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=200), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("covered_seconds", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (*MONEY, *COUNTS)),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FLOATS),
        sa.PrimaryKeyConstraint("day_start", "pool", "tenant", "tier", name=op.f("pk_daily_line_sums")),
    )
    if op.get_bind().dialect.name == "postgresql":
        day = "(date_trunc('day', interval_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        order = " ORDER BY interval_start, pool, tenant, tier"
    else:
        day = "strftime('%Y-%m-%d 00:00:00.000000', interval_start)"
        order = ""
    integers = (*MONEY, *COUNTS)
    columns = ", ".join((*integers, *FLOATS))
    sums = ", ".join((*(f"sum({c})" for c in integers), *(f"sum({c}{order})" for c in FLOATS)))
    op.execute(
        f"INSERT INTO daily_line_sums (day_start, pool, tenant, tier, {columns}, estimated, "  # noqa: S608
        f"covered_seconds, lines) SELECT {day}, pool, tenant, tier, {sums}, "
        "max(CASE WHEN estimated THEN 1 ELSE 0 END) > 0, coalesce(sum(covered_seconds), 0), count(*) "
        f"FROM attributed_costs GROUP BY {day}, pool, tenant, tier"
    )


def downgrade() -> None:
    op.drop_table("daily_line_sums")
