"""delivery: resumable batches (claims, back-off, runner lease) and routed deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:11:32.367182

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.base


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('queued', 'sent', 'failed', 'skipped')"
NEW_STATUSES = "status IN ('queued', 'sending', 'sent', 'failed', 'skipped')"


def upgrade():
    with op.batch_alter_table('credential_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('runner', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', webapp.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', webapp.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('route', sa.String(length=20), nullable=True))
        batch_op.create_index('ix_deliveries_batch_id_status', ['batch_id', 'status'], unique=False)
        # 'sending' marks a delivery claimed by a run, so a resumed batch can tell.
        batch_op.drop_constraint(op.f('ck_deliveries_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', NEW_STATUSES)


def downgrade():
    op.execute("UPDATE deliveries SET status = 'queued' WHERE status = 'sending'")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', OLD_STATUSES)
        batch_op.drop_index('ix_deliveries_batch_id_status')
        batch_op.drop_column('route')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempt_id')

    with op.batch_alter_table('credential_batches', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('runner')
