"""audit events: keep only the index a query uses (by target); each event costs fewer writes

Every delivery outcome writes an audit event and commits it before the next message goes
out, so each index on audit_events is written once per message. No query reads events by
time, actor or action: id order is time order, and a view that filters by actor or action
adds the index it needs with it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


INDEXES = ("created_at", "actor_id", "action")


def upgrade():
    # Plain DROP INDEX (no batch mode): the table, and its append-only triggers, stay.
    for column in INDEXES:
        op.drop_index(f"ix_audit_events_{column}", table_name="audit_events")


def downgrade():
    for column in INDEXES:
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column], unique=False)
