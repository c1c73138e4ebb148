"""The models and the migrations describe the same schema, and every migration can be undone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import Connection, create_engine, inspect, text

from tests.conftest import BASE_SETTINGS, TEST_DATABASE_URL
from webapp import create_app
from webapp.extensions import db
from webapp.models.search import include_object

# As flask db migrate compares: the search index (migration 0011) is not in the models.
COMPARE = {"compare_type": True, "include_object": include_object}


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=COMPARE)
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


@pytest.fixture
def empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Return settings for an empty database of this test's own: a SQLite file or a schema."""
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path / "instance"))
    if not TEST_DATABASE_URL:
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'migrations.db'}"}
        return
    # Its own schema, so the other tests' migrated public schema is never touched.
    schema = f"migration_round_trip_{os.getpid()}"
    engine = create_engine(TEST_DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"'))
    try:
        yield {
            "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
        }
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def schema_of(connection: Connection) -> dict:
    """Describe every table, column, index, constraint, trigger and function in the schema."""
    inspector = inspect(connection)
    tables = {}
    for name in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        tables[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)
            ],
            "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            ),
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], f["options"].get("ondelete"))
                for f in inspector.get_foreign_keys(name)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split()))
                for c in inspector.get_check_constraints(name)
            ),
        }
    if connection.dialect.name == "postgresql":
        triggers = connection.execute(
            text(
                "SELECT DISTINCT event_object_table || '.' || trigger_name "
                "FROM information_schema.triggers WHERE trigger_schema = current_schema()"
            )
        )
        functions = connection.execute(
            text("SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace")
        )
        extras = {"triggers": sorted(triggers.scalars()), "functions": sorted(functions.scalars())}
    else:
        triggers = connection.execute(
            text("SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'trigger'")
        )
        extras = {"triggers": sorted(triggers.scalars()), "functions": []}
    return {"tables": tables, **extras}


def test_every_migration_downgrades_to_the_schema_before_it(empty_database):
    app = create_app({**BASE_SETTINGS, **empty_database})
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        assert revisions, "no migrations found"
        for revision in revisions:
            with db.engine.connect() as conn:
                before = schema_of(conn)
            upgrade(revision=revision)
            downgrade(revision="-1")
            with db.engine.connect() as conn:
                assert schema_of(conn) == before, f"downgrade of {revision} left changes"
            upgrade(revision=revision)
        db.engine.dispose()


def test_upgrade_downgrade_upgrade_gives_the_same_schema(empty_database):
    app = create_app({**BASE_SETTINGS, **empty_database})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            first = schema_of(conn)
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert schema_of(conn) == {"tables": {}, "triggers": [], "functions": []}
        upgrade()
        with db.engine.connect() as conn:
            assert schema_of(conn) == first
            assert first["triggers"], "the audit table's append-only guard is missing"
            context = MigrationContext.configure(conn, opts=COMPARE)
            assert compare_metadata(context, db.metadata) == []
        db.engine.dispose()


OLD_OPTIONS = {
    "origin": "sync:oak",
    "file_name": "oak.csv",
    "complete": True,
    "username_template": "{f}{last}",
    "date_order": "DMY",
    "passwords": "set",
    "send": "print",
    "skip_errors": True,
    "create_schools": True,
    "confirm_deactivation": True,
    "updated_ids": [3, 4],
    "preview": {"key": "a" * 32, "tag": "b" * 64},
    "mapping": {"given_name": "First"},
    "has_header": False,
}
OLD_COUNTS = {
    "sha256": "c" * 64,
    "bytes": 123,
    "db": "d" * 64,
    "next_leave_date": "2027-07-31",
    "new": 5,
    "errors": 1,
}


def _old_runs():
    import sqlalchemy as sa

    return sa.table(
        "import_runs",
        *(sa.column(name) for name in ("id", "source", "format", "mode", "dry_run", "status")),
        sa.column("options", sa.JSON()),
        sa.column("counts", sa.JSON()),
        sa.column("row_errors", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
    )


def test_0006_moves_an_import_runs_options_and_counts_into_columns_and_back(empty_database):
    from datetime import date, datetime

    from sqlalchemy import select

    from webapp.models import ImportCounts, ImportRun, ImportRunStatus

    app = create_app({**BASE_SETTINGS, **empty_database})
    runs = _old_runs()
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            for run_id, options, counts in ((1, OLD_OPTIONS, OLD_COUNTS), (2, {}, {})):
                conn.execute(
                    runs.insert().values(
                        id=run_id, source="sis", format="csv", mode="add", dry_run=False,
                        status="applied", options=options, counts=counts, row_errors=[],
                        created_at=datetime(2026, 11, 30, 9, 0),
                    )
                )  # fmt: skip
        upgrade(revision="0006")
        run = db.session.get(ImportRun, 1)
        assert run.status is ImportRunStatus.APPLIED
        assert (run.origin, run.file_name, run.complete, run.username_template) == (
            "sync:oak", "oak.csv", True, "{f}{last}"
        )  # fmt: skip
        assert (run.date_order, run.passwords, run.send) == ("DMY", "set", "print")
        assert run.skip_errors and run.create_schools and run.confirm_deactivation
        assert run.updated_ids == [3, 4] and run.preview_tag == "b" * 64
        assert (run.upload_sha256, run.upload_bytes, run.db_fingerprint) == (
            "c" * 64,
            123,
            "d" * 64,
        )
        assert run.next_leave_date == date(2027, 7, 31)
        assert run.counts == ImportCounts(new=5, errors=1)
        assert run.options == {"mapping": {"given_name": "First"}, "has_header": False}
        plain = db.session.get(ImportRun, 2)
        assert (plain.origin, plain.passwords, plain.send, plain.counts) == (
            "web", "keep", "none", None
        )  # fmt: skip
        db.session.remove()
        downgrade(revision="0005")
        with db.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(runs.c.id, runs.c.options, runs.c.counts))}
        assert rows[1].options == OLD_OPTIONS and rows[1].counts == OLD_COUNTS
        assert rows[2].counts == {}
        assert {k: v for k, v in rows[2].options.items() if v is not None} == {
            "origin": "web", "username_template": "{first}.{last}"
        }  # fmt: skip
        db.engine.dispose()
