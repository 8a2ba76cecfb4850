"""idle kinds: idle_cold, idle_warm and kv_headroom on every kind of line, their sum the line's idle

Revision ID: 20261203idle3
Revises: 20261203inc18
Create Date: 2026-12-03 20:20:00+00:00

The three kinds of idle (issue 18, docs/insights.md "Three kinds of idle") on ``attributed_costs``,
``statement_lines`` and ``correction_lines``. New columns default to 0; existing rows are backfilled so
that the parts sum to their ``idle_usd_micros`` exactly, by one rule: a row of a cluster pool
(``__unallocated__``, ``__overhead__``, ``__cluster__``) is all ``idle_cold``; any other row's idle is all
``kv_headroom``. An old hourly line cannot tell a minute nobody used (warm) from free KV while serving
(headroom); re-attributing an open period's window (``attribution attribute --start --end``) rewrites its
lines with the kinds computed. Closed statements keep the backfilled split: they are frozen.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203idle3"
down_revision: str | None = "20261203inc18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("attributed_costs", "statement_lines", "correction_lines")
PARTS = ("idle_cold_usd_micros", "idle_warm_usd_micros", "kv_headroom_usd_micros")
# the model's cluster pools (attribution/model/vocabulary.py), spelled here so the revision never changes
CLUSTER_POOLS = ("__unallocated__", "__overhead__", "__cluster__")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for part in PARTS:
                batch.add_column(sa.Column(part, sa.BigInteger(), server_default="0", nullable=False))
        pools = ", ".join(f"'{p}'" for p in CLUSTER_POOLS)
        op.execute(f"UPDATE {table} SET idle_cold_usd_micros = idle_usd_micros WHERE pool IN ({pools})")
        op.execute(f"UPDATE {table} SET kv_headroom_usd_micros = idle_usd_micros WHERE pool NOT IN ({pools})")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for part in PARTS:
                batch.drop_column(part)
