"""Fixtures: a fresh app and database per test, on SQLite or on TEST_DATABASE_URL.

The schema comes from the Alembic migrations (run once per session), so every test runs
against what production runs. SQLite tests copy a migrated template file; PostgreSQL tests
truncate every table between tests.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from webapp import create_app
from webapp.extensions import db, limiter

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
FIXTURES = Path(__file__).resolve().parent / "fixtures"

BASE_SETTINGS = {
    "ENVIRONMENT": "testing",
    "SECRET_KEY": "test-secret-key-not-for-production",
    "JOBS_BACKEND": "inline",
    # Cheap hashing in tests; the bench measures the real parameters.
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8,
    "ARGON2_PARALLELISM": 1,
    "HTMX_USE_CDN": False,
    "BASE_URL": "https://keyslip.test",
    "SERVER_NAME": None,
    "CONSOLE_COUNTS_SECONDS": 0,  # counted afresh on every view (one test keeps them)
}


def _migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app({**BASE_SETTINGS, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once: a template SQLite file, or the PostgreSQL test database."""
    base = tmp_path_factory.mktemp("db")
    os.environ["KEYSLIP_INSTANCE_PATH"] = str(base / "instance")
    if TEST_DATABASE_URL:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        _migrate(TEST_DATABASE_URL, base)
        return TEST_DATABASE_URL
    template = base / "template.db"
    _migrate(f"sqlite:///{template}", base)
    return str(template)


def _fresh_database(template: str, tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as conn:
            tables = conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            names = ", ".join(f'"{name}"' for name in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return TEST_DATABASE_URL
    path = tmp_path / "keyslip.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(request: pytest.FixtureRequest, database_template: str, tmp_path: Path) -> Iterator[Flask]:
    settings = dict(BASE_SETTINGS)
    for marker in reversed(list(request.node.iter_markers("settings"))):
        settings.update(marker.kwargs)
    settings["SQLALCHEMY_DATABASE_URI"] = _fresh_database(database_template, tmp_path)
    os.environ["KEYSLIP_INSTANCE_PATH"] = str(tmp_path / "instance")
    app = create_app(settings)
    app.test_client_class = KeyslipClient
    limiter.reset()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class KeyslipClient(FlaskClient):
    """A test client that can find the page's CSRF token and sign in through the real form."""

    def csrf_token(self, path: str = "/sign-in") -> str:
        html = self.get(path, follow_redirects=True).get_data(as_text=True)
        match = re.search(r'"X-CSRFToken": "([^"]+)"', html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(
        self, path: str, data: dict | None = None, *, token_from: str | None = None, **kwargs
    ):
        token = self.csrf_token(token_from or path)
        return self.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)

    def sign_in(self, identifier: str, password: str, **kwargs):
        return self.post_form(
            "/sign-in", {"identifier": identifier, "password": password}, **kwargs
        )


@pytest.fixture
def client(app: Flask) -> KeyslipClient:
    return app.test_client()


@pytest.fixture
def roster_fixtures() -> Path:
    """Return the folder of real roster files written by other projects (see its README)."""
    return FIXTURES / "roster"
