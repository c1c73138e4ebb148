"""people search: a trigram index over names, username, email and student number (FTS5 on
SQLite, pg_trgm on PostgreSQL), and indexes for the console's role and grade filters in name
order; the email index
becomes partial (not null)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00.000000

"""

import logging

from alembic import op
import sqlalchemy as sa

from webapp.models.search import SEARCH_TABLE, SEARCHED

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

COLUMNS = ", ".join(SEARCHED)
NEW = ", ".join(f"new.{c}" for c in SEARCHED)
OLD = ", ".join(f"old.{c}" for c in SEARCHED)
# FTS5 with external content: the triggers tell the index what changed in `users`.
SQLITE_UP = [
    f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5({COLUMNS}, content='users', "
    "content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON users BEGIN "
    f"INSERT INTO {SEARCH_TABLE}(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END",
    f"CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON users BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, {COLUMNS}) "
    f"VALUES ('delete', old.id, {OLD}); END",
    f"CREATE TRIGGER {SEARCH_TABLE}_update AFTER UPDATE OF {COLUMNS} ON users BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, {COLUMNS}) "
    f"VALUES ('delete', old.id, {OLD}); "
    f"INSERT INTO {SEARCH_TABLE}(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END",
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')",
]


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            "ix_users_role_name",
            ["role", "family_name", "given_name", "deactivated_at", "activated_at", "invited_at",
             "email", "phone"],
            unique=False,
        )
        batch_op.create_index(
            "ix_users_grade", ["grade", "family_name", "given_name", "last_login_at", "role"], unique=False
        )
        # Partial, so the planner never reads it for "no email" (most of a table's NULLs).
        batch_op.drop_index("ix_users_email_lower")
        batch_op.create_index(
            "ix_users_email_lower",
            ["email"],
            unique=False,
            sqlite_where=sa.text("email IS NOT NULL"),
            postgresql_where=sa.text("email IS NOT NULL"),
        )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    elif dialect == "postgresql":
        _trigram_indexes()


def _trigram_indexes():
    """pg_trgm GIN indexes; without the right to add the extension, search still works, by
    reading every row, and the migration says so rather than stopping the upgrade."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            # In public, beside the database's other extensions, not in this schema.
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except Exception as exc:  # noqa: BLE001 (any refusal: no privilege, not installed)
        log.warning(
            "pg_trgm is not available (%s): people search will read every row. "
            "Ask the database owner to run CREATE EXTENSION pg_trgm, then "
            "`flask db downgrade 0010 && flask db upgrade`.",
            exc.__class__.__name__,
        )
        return
    schema = bind.exec_driver_sql(
        "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar()
    for column in SEARCHED:
        op.execute(
            f"CREATE INDEX ix_users_{column}_trgm ON users "
            f"USING gin ({column} {schema}.gin_trgm_ops)"
        )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_{name}")
        op.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
    elif dialect == "postgresql":
        # The extension stays: other schemas in the database may use it.
        for column in SEARCHED:
            op.execute(f"DROP INDEX IF EXISTS ix_users_{column}_trgm")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_email_lower")
        batch_op.create_index("ix_users_email_lower", ["email"], unique=False)
        batch_op.drop_index("ix_users_grade")
        batch_op.drop_index("ix_users_role_name")
