"""collector state: watermarks per collector and source, coverage per source and interval, chunk log

Revision ID: 20261129c0l1
Revises: 20261129p3r1
Create Date: 2026-11-29 12:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261129c0l1"
down_revision: str | None = "20261129p3r1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collector_watermarks",
        sa.Column("collector", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("collector", "source", name=op.f("pk_collector_watermarks")),
    )
    op.create_table(
        "source_coverage",
        sa.Column("collector", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('present', 'missing', 'estimated')", name=op.f("ck_source_coverage_status")
        ),
        sa.PrimaryKeyConstraint("collector", "source", "interval_start", name=op.f("pk_source_coverage")),
    )
    with op.batch_alter_table("source_coverage", schema=None) as batch_op:
        batch_op.create_index("ix_source_coverage_interval_start", ["interval_start"], unique=False)

    op.create_table(
        "collection_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("collector", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("replica", sa.String(length=200), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_log")),
    )
    with op.batch_alter_table("collection_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_collection_log_window", ["collector", "source", "window_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_log", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_log_window")
    op.drop_table("collection_log")
    with op.batch_alter_table("source_coverage", schema=None) as batch_op:
        batch_op.drop_index("ix_source_coverage_interval_start")
    op.drop_table("source_coverage")
    op.drop_table("collector_watermarks")
