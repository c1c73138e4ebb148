"""The models and the migrations describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_cli_create_admin_refuses_a_weak_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create-admin", "--username", "boss", "--email", "b@x.example",
              "--password", "short"]
    )  # fmt: skip
    assert result.exit_code != 0 and "at least 15" in result.output
    result = runner.invoke(
        args=["users", "create-admin", "--username", "boss", "--email", "b@x.example",
              "--password", "a long admin passphrase"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert client.sign_in("boss", "a long admin passphrase").headers["Location"] == "/admin/"
