"""Server-side sessions: fixation, sign-out replay, idle and absolute timeouts, cookies."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role, User, utcnow

COOKIE = "keyslip_session"


@pytest.fixture
def teacher_id(app) -> int:
    with app.app_context():
        user = make_user(Role.TEACHER, school=make_school(), username="t.sess")
        db.session.commit()
        return user.id


def session_cookie(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def test_sign_in_issues_a_new_session_id(client, teacher_id):
    client.get("/sign-in")
    planted = session_cookie(client)
    assert planted
    client.sign_in("t.sess", PASSWORD)
    assert session_cookie(client) != planted


def test_a_planted_session_id_is_not_signed_in_after_the_victim_signs_in(app, teacher_id):
    attacker = app.test_client()
    attacker.get("/sign-in")
    planted = session_cookie(attacker)
    victim = app.test_client()
    victim.set_cookie(COOKIE, planted)
    victim.sign_in("t.sess", PASSWORD)
    assert victim.get("/teacher/").status_code == 200
    assert attacker.get("/teacher/").status_code == 302


def test_a_copied_cookie_is_worthless_after_sign_out(app, client, teacher_id):
    client.sign_in("t.sess", PASSWORD)
    stolen = session_cookie(client)
    client.post_form("/sign-out", token_from="/teacher/")
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen)
    assert thief.get("/teacher/").status_code == 302


def test_deactivation_ends_a_live_session(app, client, teacher_id):
    client.sign_in("t.sess", PASSWORD)
    with app.app_context():
        user = db.session.get(User, teacher_id)
        user.deactivated_at = utcnow()
        user.rotate_epoch()
        db.session.commit()
    assert client.get("/teacher/").status_code == 302


def test_idle_for_31_minutes_signs_out(client, teacher_id):
    client.sign_in("t.sess", PASSWORD)
    with time_machine.travel(utcnow() + timedelta(minutes=29), tick=False):
        assert client.get("/teacher/").status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=29 + 31), tick=False):
        response = client.get("/teacher/")
        assert response.status_code == 303
        assert response.headers["Location"] == "/sign-in"
        assert "inactivity" in client.get("/sign-in").get_data(as_text=True)


def test_idle_htmx_request_gets_a_redirect_header_not_a_login_form(client, teacher_id):
    client.sign_in("t.sess", PASSWORD)
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        response = client.get("/teacher/", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/sign-in"
    assert b"<form" not in response.data


def test_absolute_limit_of_12_hours_even_when_busy(client, teacher_id):
    client.sign_in("t.sess", PASSWORD)
    start = utcnow()
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get("/teacher/").status_code == 200
    with time_machine.travel(start + timedelta(hours=12, seconds=1), tick=False):
        assert client.get("/teacher/").status_code == 303


def test_session_cookie_is_httponly_and_samesite_lax(client, teacher_id):
    response = client.sign_in("t.sess", PASSWORD)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Domain" not in header


@pytest.mark.settings(ENVIRONMENT="production", BASE_URL="https://keyslip.test")
def test_production_cookie_is_secure_with_host_prefix(client, teacher_id):
    response = client.get("/sign-in", base_url="https://localhost")
    header = response.headers["Set-Cookie"]
    assert header.startswith("__Host-keyslip_session=")
    assert "Secure" in header
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_no_long_lived_remember_cookie(client, teacher_id):
    response = client.sign_in("t.sess", PASSWORD)
    assert not any("remember_token" in h for h in response.headers.getlist("Set-Cookie"))
