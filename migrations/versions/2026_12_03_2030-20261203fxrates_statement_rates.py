"""statement_rates: the exchange rate each closed period's statement converts at, recorded at close

Revision ID: 20261203fxrates
Revises: 20261203rollups
Create Date: 2026-12-03 20:30:00+00:00

A later change of the configured rates must not alter an issued statement (issue 19 part 3).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203fxrates"
down_revision: str | None = "20261203rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statement_rates",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", "currency", name=op.f("pk_statement_rates")),
    )


def downgrade() -> None:
    op.drop_table("statement_rates")
