"""relay quotas: one row per send slot taken, for MAIL_RATE_LIMIT / SMS_RATE_LIMIT without Redis

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.base


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('relay_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('sent_at', webapp.models.base.UTCDateTime(), nullable=False),
    sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f('ck_relay_sends_channel_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relay_sends'))
    )
    with op.batch_alter_table('relay_sends', schema=None) as batch_op:
        batch_op.create_index('ix_relay_sends_channel_sent_at', ['channel', 'sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('relay_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_relay_sends_channel_sent_at')

    op.drop_table('relay_sends')
