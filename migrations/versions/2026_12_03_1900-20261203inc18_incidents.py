"""incidents: recovery incidents (a pool down or reloading while its GPUs are allocated), with their cost

Revision ID: 20261203inc18
Revises: 20261203h20a
Create Date: 2026-12-03 19:00:00+00:00

Written by the attribution run of each window, replaced when the window is attributed again (issue 18).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203inc18"
down_revision: str | None = "20261203h20a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("pool", sa.String(length=200), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=100), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("gpu_uuids", sa.Text(), nullable=False),
        sa.Column("cost_usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pool", "start_at", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_start_at"), "incidents", ["start_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_incidents_start_at"), table_name="incidents")
    op.drop_table("incidents")
