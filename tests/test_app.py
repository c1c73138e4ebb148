"""App factory and configuration."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.factories import make_school, make_user
from webapp import create_app
from webapp.extensions import db
from webapp.models import Role


def test_production_without_a_secret_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="FLASK_SECRET_KEY is not set"):
        create_app({"ENVIRONMENT": "production", "SECRET_KEY": None})


def test_development_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path))
    first = create_app({"ENVIRONMENT": "development"}).config["SECRET_KEY"]
    second = create_app({"ENVIRONMENT": "development"}).config["SECRET_KEY"]
    assert first == second and len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_come_from_flask_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLASK_SESSION_IDLE_MINUTES", "15")
    monkeypatch.setenv("FLASK_BASE_URL", "https://logins.example.org")
    app = create_app()
    assert app.config["SESSION_IDLE_MINUTES"] == 15
    assert app.config["BASE_URL"] == "https://logins.example.org"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")
def test_sign_in_limit_is_shared_through_redis_across_processes(app):
    """Two app instances stand in for two gunicorn workers."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = {
        "REDIS_URL": os.environ["REDIS_URL"],
        "RATELIMIT_STORAGE_URI": os.environ["REDIS_URL"],
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_RATE_LIMIT": "3 per minute",
    }
    with app.app_context():
        make_user(Role.TEACHER, school=make_school(), username="t.redis")
        db.session.commit()
    app.config.update(settings)
    worker_a = create_app({**app.config, **settings})
    client_a = worker_a.test_client()
    for _ in range(3):
        token = client_a.get("/sign-in").get_data(as_text=True)
        token = token.split('"X-CSRFToken": "')[1].split('"')[0]
        client_a.post("/sign-in", data={"csrf_token": token, "identifier": "x", "password": "y"})
    worker_b = create_app({**app.config, **settings})
    client_b = worker_b.test_client()
    token = client_b.get("/sign-in").get_data(as_text=True)
    token = token.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client_b.post(
        "/sign-in", data={"csrf_token": token, "identifier": "t.redis", "password": "y"}
    )
    assert response.status_code == 429


@pytest.mark.settings(PROXY_COUNT=1)
def test_behind_one_proxy_the_client_address_is_audited(app, client):
    from sqlalchemy import select

    from webapp.models import AuditEvent

    client.post_form(
        "/sign-in",
        {"identifier": "nobody", "password": "x"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.ip)) == "203.0.113.9"
