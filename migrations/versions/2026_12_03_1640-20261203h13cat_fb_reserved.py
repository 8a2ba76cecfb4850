"""gpu_samples.fb_reserved_bytes: dcgm's FB_RESERVED, so a GPU's memory is FB_USED + FB_FREE + FB_RESERVED.

Revision ID: 20261203h13cat
Revises: 20261129d1r7
Create Date: 2026-12-03 16:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203h13cat"
down_revision: str | None = "20261129d1r7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gpu_samples") as batch:
        batch.add_column(sa.Column("fb_reserved_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gpu_samples") as batch:
        batch.drop_column("fb_reserved_bytes")
