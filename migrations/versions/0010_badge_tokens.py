"""badge tokens: QR sign-in badges for young students, stored as SHA-256 hashes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.base


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('badge_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', webapp.models.base.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', webapp.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', webapp.models.base.UTCDateTime(), nullable=True),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_badge_tokens_issued_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_badge_tokens_student_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_badge_tokens_token_hash'))
    )
    with op.batch_alter_table('badge_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_badge_tokens_student_id'), ['student_id'], unique=False)


def downgrade():
    with op.batch_alter_table('badge_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_badge_tokens_student_id'))

    op.drop_table('badge_tokens')
