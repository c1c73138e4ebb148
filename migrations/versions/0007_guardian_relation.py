"""guardian links: the relationship word the roster gave (Mother, Grandfather, Guardian)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("guardian_links") as batch:
        batch.add_column(sa.Column("relation", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("guardian_links") as batch:
        batch.drop_column("relation")
