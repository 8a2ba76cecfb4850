"""periods, statements, corrections; overheads on cluster costs

Revision ID: 20261129p3r1
Revises: 4853add2647c
Create Date: 2026-11-29 02:43:44.224781+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '20261129p3r1'
down_revision: str | None = "4853add2647c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    with op.batch_alter_table("cluster_costs") as batch_op:
        batch_op.add_column(
            sa.Column("overhead_usd_micros", sa.BigInteger(), server_default="0", nullable=False)
        )

    op.create_table('correction_lines',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('billing_period', sa.String(length=7), nullable=False),
    sa.Column('charge_period', sa.String(length=7), nullable=False),
    sa.Column('pool', sa.String(length=200), nullable=False),
    sa.Column('tenant', sa.String(length=200), nullable=False),
    sa.Column('tier', sa.String(length=200), nullable=False),
    sa.Column('kv_in_use_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('static_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('idle_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('unmeasured_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('total_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('kv_token_seconds', sa.Float(), nullable=False),
    sa.Column('kv_byte_seconds', sa.Float(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('prompt_tokens', sa.BigInteger(), nullable=False),
    sa.Column('generation_tokens', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_correction_lines'))
    )
    with op.batch_alter_table('correction_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_lines_billing_period'), ['billing_period'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_lines_charge_period'), ['charge_period'], unique=False)

    op.create_table('periods',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('total_usd_micros', sa.BigInteger(), nullable=True),
    sa.Column('total_cents', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('period', name=op.f('pk_periods'))
    )
    op.create_table('statement_lines',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('charge_class', sa.String(length=12), nullable=False),
    sa.Column('charge_period', sa.String(length=7), nullable=False),
    sa.Column('pool', sa.String(length=200), nullable=False),
    sa.Column('tenant', sa.String(length=200), nullable=False),
    sa.Column('tier', sa.String(length=200), nullable=False),
    sa.Column('kv_in_use_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('static_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('idle_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('unmeasured_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('total_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('total_cents', sa.BigInteger(), nullable=False),
    sa.Column('kv_token_seconds', sa.Float(), nullable=False),
    sa.Column('kv_byte_seconds', sa.Float(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('prompt_tokens', sa.BigInteger(), nullable=False),
    sa.Column('generation_tokens', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'charge_class', 'charge_period', 'pool', 'tenant', 'tier', name=op.f('pk_statement_lines'))
    )

def downgrade() -> None:
    with op.batch_alter_table("cluster_costs") as batch_op:
        batch_op.drop_column("overhead_usd_micros")

    op.drop_table('statement_lines')
    op.drop_table('periods')
    with op.batch_alter_table('correction_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_correction_lines_charge_period'))
        batch_op.drop_index(batch_op.f('ix_correction_lines_billing_period'))

    op.drop_table('correction_lines')

