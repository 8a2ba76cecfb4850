"""gpu parts: MIG instances and shares of shared GPUs as rows of gpu_samples; coverage status unplaced

Revision ID: 20261203h13gpu
Revises: 20261203h13cat
Create Date: 2026-12-03 16:15:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203h13gpu"
down_revision: str | None = "20261203h13cat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('present', 'missing', 'estimated')"
NEW_STATUSES = "status IN ('present', 'missing', 'estimated', 'unplaced')"


def upgrade() -> None:
    with op.batch_alter_table("gpu_samples") as batch:
        batch.add_column(sa.Column("part", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("gpu_share_ppm", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("problem", sa.String(length=200), nullable=True))
        batch.drop_constraint(op.f("pk_gpu_samples"), type_="primary")
        batch.create_primary_key(op.f("pk_gpu_samples"), ["interval_start", "gpu_uuid", "part"])
    with op.batch_alter_table("gpu_samples") as batch:
        batch.alter_column("part", server_default=None)
    with op.batch_alter_table("source_coverage") as batch:
        batch.drop_constraint(op.f("ck_source_coverage_status"), type_="check")
        batch.create_check_constraint(op.f("ck_source_coverage_status"), NEW_STATUSES)


def downgrade() -> None:
    op.execute("DELETE FROM source_coverage WHERE status = 'unplaced'")
    op.execute("DELETE FROM gpu_samples WHERE part <> ''")
    with op.batch_alter_table("source_coverage") as batch:
        batch.drop_constraint(op.f("ck_source_coverage_status"), type_="check")
        batch.create_check_constraint(op.f("ck_source_coverage_status"), OLD_STATUSES)
    with op.batch_alter_table("gpu_samples") as batch:
        batch.drop_constraint(op.f("pk_gpu_samples"), type_="primary")
        batch.create_primary_key(op.f("pk_gpu_samples"), ["interval_start", "gpu_uuid"])
        batch.drop_column("problem")
        batch.drop_column("gpu_share_ppm")
        batch.drop_column("part")
