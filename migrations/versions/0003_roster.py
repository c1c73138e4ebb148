"""roster imports: stored options, the encrypted upload's key, start time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:31:11.943684

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.base


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        # Existing runs had no options; '{}' lets the NOT NULL column be added to them.
        batch_op.add_column(sa.Column('options', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('upload_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('started_at', webapp.models.base.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_column('started_at')
        batch_op.drop_column('upload_key')
        batch_op.drop_column('options')
