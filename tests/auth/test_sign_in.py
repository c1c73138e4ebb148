"""Sign-in through the real form: the same answer for every failure, throttling, audit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Role, User, utcnow


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def teacher_id(app) -> int:
    with app.app_context():
        user = make_user(
            Role.TEACHER,
            school=make_school(),
            username="ms.frizzle",
            email="Frizzle@School.Example".lower(),
        )
        db.session.commit()
        return user.id


def test_sign_in_by_username_lands_on_home(client, teacher_id):
    response = client.sign_in("ms.frizzle", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/teacher/"
    assert client.get("/teacher/").status_code == 200


def test_sign_in_by_email_is_case_insensitive(client, teacher_id):
    response = client.sign_in("FRIZZLE@school.example", PASSWORD)
    assert response.status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(app, teacher_id):
    wrong = app.test_client().sign_in("ms.frizzle", "not-the-password")
    unknown = app.test_client().sign_in("nobody.here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    body_wrong = wrong.get_data(as_text=True).replace("ms.frizzle", "NAME")
    body_unknown = unknown.get_data(as_text=True).replace("nobody.here", "NAME")
    assert "is not right" in body_wrong
    # Identical apart from the typed name and the per-session CSRF tokens.
    token = re.compile(r'(X-CSRFToken": "|name="csrf_token" type="hidden" value=")[^"]+')
    assert token.sub("TOKEN", body_wrong) == token.sub("TOKEN", body_unknown)
    assert sorted(wrong.headers.keys()) == sorted(unknown.headers.keys())
    assert audit_actions(app).count("login_failed") == 2


def test_deactivated_user_with_right_password_gets_the_generic_answer(app, client, teacher_id):
    with app.app_context():
        db.session.get(User, teacher_id).deactivated_at = utcnow()
        db.session.commit()
    response = client.sign_in("ms.frizzle", PASSWORD)
    assert response.status_code == 401
    assert "is not right" in response.get_data(as_text=True)


def test_fifth_failure_delays_the_account_and_refuses_even_the_right_password(
    app, client, teacher_id
):
    for _ in range(5):
        assert client.sign_in("ms.frizzle", "wrong-password").status_code == 401
    response = client.sign_in("ms.frizzle", PASSWORD)
    assert response.status_code == 401
    actions = audit_actions(app)
    assert "login_delayed" in actions
    assert actions[-1] == "login_throttled"
    # Once the delay has passed, the right password works again.
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        assert client.sign_in("ms.frizzle", PASSWORD).status_code == 302


@pytest.mark.settings(LOGIN_RATE_LIMIT="3 per minute")
def test_per_ip_sign_in_limit_answers_429(client, teacher_id):
    for _ in range(3):
        client.sign_in("someone", "wrong-password")
    response = client.sign_in("ms.frizzle", PASSWORD)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_successful_sign_in_is_audited_and_resets_failures(app, client, teacher_id):
    client.sign_in("ms.frizzle", "wrong-password")
    client.sign_in("ms.frizzle", PASSWORD)
    with app.app_context():
        user = db.session.get(User, teacher_id)
        assert user.failed_login_count == 0
        assert user.last_login_at is not None
    assert audit_actions(app)[-1] == "login_succeeded"


def test_post_without_csrf_token_is_refused(app, client, teacher_id):
    response = client.post("/sign-in", data={"identifier": "ms.frizzle", "password": PASSWORD})
    assert response.status_code == 400
    assert "login_succeeded" not in audit_actions(app)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "/%09/evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "/account%0a",
        "https://evil.example/",
        "http:/evil.example",
        "evil.example",
        "/%E2%80%8B/evil.example",
    ],
)
def test_sign_in_never_redirects_off_site_or_into_an_error(app, client, target):
    with app.app_context():
        make_user(Role.STUDENT, username="stu", password=PASSWORD)
        db.session.commit()
    response = client.post_form(
        f"/sign-in?next={target}",
        {"identifier": "stu", "password": PASSWORD},
        token_from="/sign-in",
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location in ("/account", "/") or location.startswith("/account")
    assert "evil" not in location and "\n" not in location and "\t" not in location


def test_sign_in_follows_a_same_site_next_path(app, client):
    with app.app_context():
        make_user(Role.STUDENT, username="stu", password=PASSWORD)
        db.session.commit()
    response = client.post_form(
        "/sign-in?next=/password/change?x=1",
        {"identifier": "stu", "password": PASSWORD},
        token_from="/sign-in",
    )
    assert response.headers["Location"] == "/password/change?x=1"
