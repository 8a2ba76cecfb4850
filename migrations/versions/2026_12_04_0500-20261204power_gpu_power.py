"""gpu_samples.power_milliwatts: each GPU's measured board power per interval (dcgm)

Revision ID: 20261204power
Revises: 20261203budgets
Create Date: 2026-12-04 05:00:00+00:00

A derived GPU price takes its power part from measured energy where dcgm reports it, the nameplate
wattage otherwise (issue 19 part 2). Nullable: exporters without the field, and every earlier sample.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204power"
down_revision: str | None = "20261203budgets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("gpu_samples", sa.Column("power_milliwatts", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("gpu_samples", "power_milliwatts")
