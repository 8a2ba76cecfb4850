"""attributed_costs.covered_seconds: how much of a line's grain has been attributed (a partial line)

Revision ID: 20261203h20a
Revises: 20261203h13gpu
Create Date: 2026-12-03 16:00:00+00:00

Attribution stops at the collectors' watermark, so the line of the current hour covers only the minutes
collected so far and grows as collection advances. NULL (rows written before this revision) means the
whole grain.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203h20a"
down_revision: str | None = "20261203h13gpu"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attributed_costs") as batch:
        batch.add_column(sa.Column("covered_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attributed_costs") as batch:
        batch.drop_column("covered_seconds")
