"""budgets: budget alerts fired once per crossing, closed statements to deliver, and the delivery log

Revision ID: 20261203budgets
Revises: 20261203fxrates
Create Date: 2026-12-03 20:20:00+00:00

Issue 19 part 4: docs/budgets.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203budgets"
down_revision: str | None = "20261203fxrates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_alerts",
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("budget", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("threshold_percent", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("budget_usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("amount_usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_budget_alerts")),
    )
    op.create_index(op.f("ix_budget_alerts_period"), "budget_alerts", ["period"], unique=False)
    op.create_index(op.f("ix_budget_alerts_status"), "budget_alerts", ["status"], unique=False)
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        op.f("ix_delivery_attempts_delivery_id"), "delivery_attempts", ["delivery_id"], unique=False
    )
    op.create_table(
        "statement_deliveries",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_statement_deliveries")),
    )
    op.create_index(
        op.f("ix_statement_deliveries_status"), "statement_deliveries", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_statement_deliveries_status"), table_name="statement_deliveries")
    op.drop_table("statement_deliveries")
    op.drop_index(op.f("ix_delivery_attempts_delivery_id"), table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index(op.f("ix_budget_alerts_status"), table_name="budget_alerts")
    op.drop_index(op.f("ix_budget_alerts_period"), table_name="budget_alerts")
    op.drop_table("budget_alerts")
