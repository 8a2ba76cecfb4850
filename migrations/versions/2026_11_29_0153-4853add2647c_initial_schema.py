"""initial schema

Revision ID: 4853add2647c
Revises: (none)
Create Date: 2026-11-29 01:53:18.244205+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '4853add2647c'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:

    op.create_table('attributed_costs',
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
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
    sa.Column('estimated', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('interval_start', 'pool', 'tenant', 'tier', name=op.f('pk_attributed_costs'))
    )
    with op.batch_alter_table('attributed_costs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attributed_costs_tenant'), ['tenant'], unique=False)

    op.create_table('attribution_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lines', sa.BigInteger(), nullable=False),
    sa.Column('total_usd_micros', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attribution_runs'))
    )
    op.create_table('cluster_costs',
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cost_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('unallocated_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('unmeasured_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('gpus_in_inventory', sa.Integer(), nullable=False),
    sa.Column('gpus_sampled', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('interval_start', name=op.f('pk_cluster_costs'))
    )
    op.create_table('coverage',
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('series', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('source', 'interval_start', name=op.f('pk_coverage'))
    )
    op.create_table('gpu_samples',
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('gpu_uuid', sa.String(length=200), nullable=False),
    sa.Column('hostname', sa.String(length=200), nullable=False),
    sa.Column('gpu_model_name', sa.String(length=200), nullable=False),
    sa.Column('gpu_type', sa.String(length=200), nullable=True),
    sa.Column('pool', sa.String(length=200), nullable=True),
    sa.Column('fb_used_bytes', sa.BigInteger(), nullable=True),
    sa.Column('fb_free_bytes', sa.BigInteger(), nullable=True),
    sa.Column('gpu_util_percent', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('interval_start', 'gpu_uuid', name=op.f('pk_gpu_samples'))
    )
    with op.batch_alter_table('gpu_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gpu_samples_pool'), ['pool'], unique=False)

    op.create_table('kv_samples',
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pool', sa.String(length=200), nullable=False),
    sa.Column('engine_id', sa.String(length=200), nullable=False),
    sa.Column('kv_usage_ratio', sa.Float(), nullable=False),
    sa.Column('kv_capacity_tokens', sa.BigInteger(), nullable=True),
    sa.Column('kv_bytes_per_token', sa.BigInteger(), nullable=True),
    sa.Column('requests_running', sa.Float(), nullable=True),
    sa.Column('requests_waiting', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('interval_start', 'pool', 'engine_id', name=op.f('pk_kv_samples'))
    )
    op.create_table('pool_costs',
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pool', sa.String(length=200), nullable=False),
    sa.Column('gpu_count', sa.Integer(), nullable=False),
    sa.Column('memory_bytes', sa.BigInteger(), nullable=False),
    sa.Column('kv_capacity_bytes', sa.BigInteger(), nullable=False),
    sa.Column('kv_in_use_bytes', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('kv_in_use_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('kv_free_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('static_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('idle_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('unmeasured_usd_micros', sa.BigInteger(), nullable=False),
    sa.Column('estimated', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('interval_start', 'pool', name=op.f('pk_pool_costs'))
    )
    op.create_table('tenant_usage',
    sa.Column('interval_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pool', sa.String(length=200), nullable=False),
    sa.Column('tenant', sa.String(length=200), nullable=False),
    sa.Column('tier', sa.String(length=200), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('prompt_tokens', sa.BigInteger(), nullable=False),
    sa.Column('generation_tokens', sa.BigInteger(), nullable=False),
    sa.Column('kv_token_seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('interval_start', 'pool', 'tenant', 'tier', name=op.f('pk_tenant_usage'))
    )

def downgrade() -> None:

    op.drop_table('tenant_usage')
    op.drop_table('pool_costs')
    op.drop_table('kv_samples')
    with op.batch_alter_table('gpu_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gpu_samples_pool'))

    op.drop_table('gpu_samples')
    op.drop_table('coverage')
    op.drop_table('cluster_costs')
    op.drop_table('attribution_runs')
    with op.batch_alter_table('attributed_costs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attributed_costs_tenant'))

    op.drop_table('attributed_costs')

