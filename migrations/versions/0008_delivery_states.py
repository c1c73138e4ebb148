"""delivery states: printed deliveries, paused batches (relay quotas) and CHECKs on batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import webapp.models.base


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OLD_DELIVERY = ("queued", "sending", "sent", "failed", "skipped")
NEW_DELIVERY = OLD_DELIVERY + ("printed",)
BATCH_CHECKS = {
    "status_known": ("status", ("queued", "running", "retrying", "paused", "failed",
                                "awaiting_print", "done")),
    "kind_known": ("kind", ("link", "password", "parent-code")),
    "channel_known": ("channel", ("email", "sms", "print")),
}


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with op.batch_alter_table('credential_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resume_at', webapp.models.base.UTCDateTime(), nullable=True))
        for name, (column, values) in BATCH_CHECKS.items():
            batch_op.create_check_constraint(name, _in(column, values))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', _in("status", NEW_DELIVERY))


def downgrade():
    # A printed slip was handed over: the closest earlier status is 'sent'.
    op.execute("UPDATE deliveries SET status = 'sent' WHERE status = 'printed'")
    op.execute("UPDATE credential_batches SET status = 'retrying' WHERE status = 'paused'")
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deliveries_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', _in("status", OLD_DELIVERY))
    with op.batch_alter_table('credential_batches', schema=None) as batch_op:
        for name in BATCH_CHECKS:
            batch_op.drop_constraint(op.f(f'ck_credential_batches_{name}'), type_='check')
        batch_op.drop_column('resume_at')
