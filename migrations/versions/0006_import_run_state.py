"""import runs: known statuses and stages, the admin's choices and the upload's facts as columns

The choices (origin, file name, complete, username template, date order, passwords, send,
skip errors, create schools, confirm deactivation), the kept preview, the people to send a
fresh link, and the upload's facts (sha256, size, database fingerprint, next leaving date)
move out of the `options` and `counts` JSON into typed columns; `options` keeps the column
mapping and `counts` the plan's counts. Existing rows are moved both ways.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:40:00.000000

"""
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


STATUSES = ("pending", "running", "applied", "failed", "skipped", "needs_confirmation",
            "previewed", "blocked")
STAGES = ("reading", "checking", "writing")
PASSWORDS = ("keep", "set")
SENDS = ("none", "email", "sms", "print")
DATE_ORDERS = ("DMY", "MDY")
CHECKS = {
    "status_known": ("status", STATUSES),
    "stage_known": ("stage", STAGES),
    "passwords_known": ("passwords", PASSWORDS),
    "send_known": ("send", SENDS),
    "date_order_known": ("date_order", DATE_ORDERS),
}

# Option keys that become columns, with the default an absent key meant.
CHOICES = {
    "origin": "web",
    "file_name": None,
    "complete": None,
    "username_template": "{first}.{last}",
    "date_order": None,
    "passwords": "keep",
    "send": "none",
    "skip_errors": False,
    "create_schools": False,
    "confirm_deactivation": False,
    "updated_ids": [],
}
# Count keys that become columns.
FACTS = {"sha256": "upload_sha256", "bytes": "upload_bytes", "db": "db_fingerprint",
         "next_leave_date": "next_leave_date"}


def _columns():
    """Return the new columns, fresh for each batch (a Column belongs to one table)."""
    return [
        sa.Column('origin', sa.String(length=60), nullable=False, server_default='web'),
        sa.Column('file_name', sa.String(length=255), nullable=True),
        sa.Column('complete', sa.Boolean(), nullable=True),
        sa.Column('username_template', sa.String(length=60), nullable=False,
                  server_default='{first}.{last}'),
        sa.Column('date_order', sa.String(length=3), nullable=True),
        sa.Column('passwords', sa.String(length=10), nullable=False, server_default='keep'),
        sa.Column('send', sa.String(length=10), nullable=False, server_default='none'),
        sa.Column('skip_errors', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('create_schools', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('confirm_deactivation', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('preview_key', sa.String(length=64), nullable=True),
        sa.Column('preview_tag', sa.String(length=64), nullable=True),
        sa.Column('updated_ids', sa.JSON(), nullable=False, server_default='[]'),
        sa.Column('upload_sha256', sa.String(length=64), nullable=True),
        sa.Column('upload_bytes', sa.Integer(), nullable=True),
        sa.Column('db_fingerprint', sa.String(length=64), nullable=True),
        sa.Column('next_leave_date', sa.Date(), nullable=True),
    ]


COLUMNS = _columns()


def _runs() -> sa.Table:
    return sa.table(
        'import_runs',
        sa.column('id', sa.Integer()),
        sa.column('options', sa.JSON()),
        sa.column('counts', sa.JSON()),
        *(sa.column(c.name, c.type) for c in COLUMNS),
    )


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _choice(key, value):
    """Return an old option's value as its column takes it (unknown values: the default)."""
    allowed = {"passwords": PASSWORDS, "send": SENDS, "date_order": DATE_ORDERS}.get(key)
    if value is None or (allowed and value not in allowed):
        return CHOICES[key]
    return value


def upgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)
    runs = _runs()
    bind = op.get_bind()
    for row in bind.execute(sa.select(runs.c.id, runs.c.options, runs.c.counts)).all():
        options, counts = dict(row.options or {}), dict(row.counts or {})
        values = {key: _choice(key, options.pop(key, None)) for key in CHOICES}
        preview = options.pop("preview", None) or {}
        values["preview_key"], values["preview_tag"] = preview.get("key"), preview.get("tag")
        for key, column in FACTS.items():
            values[column] = counts.pop(key, None)
        if values["next_leave_date"]:
            values["next_leave_date"] = date.fromisoformat(values["next_leave_date"])
        bind.execute(
            runs.update().where(runs.c.id == row.id).values(options=options, counts=counts,
                                                            **values)
        )
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        for name, (column, values) in CHECKS.items():
            batch_op.create_check_constraint(name, _in(column, values))


def downgrade():
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        for name in CHECKS:
            batch_op.drop_constraint(op.f(f'ck_import_runs_{name}'), type_='check')
    runs = _runs()
    bind = op.get_bind()
    for row in bind.execute(sa.select(runs)).all():
        options, counts = dict(row.options or {}), dict(row.counts or {})
        for key, default in CHOICES.items():
            value = getattr(row, key)
            if value != default or key in ("origin", "file_name", "complete",
                                           "username_template", "date_order"):
                options[key] = value
        if row.preview_key:
            options["preview"] = {"key": row.preview_key, "tag": row.preview_tag}
        for key, column in FACTS.items():
            value = getattr(row, column)
            if value is not None:
                counts[key] = value.isoformat() if isinstance(value, date) else value
        bind.execute(runs.update().where(runs.c.id == row.id).values(options=options,
                                                                      counts=counts))
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column.name)
