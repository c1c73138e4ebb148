"""Temporary passwords, forced change, expiry, and signing other sessions out."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Role, User, utcnow
from webapp.services import passwords
from webapp.services.errors import PolicyError

TEMP = "tiger-moon-42-extra"
NEW = "a brand new long password"


@pytest.fixture
def temp_user_id(app) -> int:
    with app.app_context():
        user = make_user(
            Role.PARENT, school=make_school(), username="pat.parent", password=TEMP, activated=False
        )
        user.must_change_password = True
        user.temp_password_expires_at = utcnow() + timedelta(days=14)
        db.session.commit()
        return user.id


def test_temporary_password_forces_a_change_that_activates(app, client, temp_user_id):
    response = client.sign_in("pat.parent", TEMP)
    assert response.headers["Location"] == "/password/change"
    # Every other page sends the person back to the change form.
    assert client.get("/parent").headers["Location"] == "/password/change"
    response = client.post_form("/password/change", {"new_password": NEW, "confirm": NEW})
    assert response.status_code == 302
    assert client.get("/parent").status_code == 200
    with app.app_context():
        user = db.session.get(User, temp_user_id)
        assert user.activated_at is not None
        assert not user.must_change_password
        assert user.state.value == "active"


def test_the_new_password_may_not_equal_the_temporary_one(app, client, temp_user_id):
    client.sign_in("pat.parent", TEMP)
    response = client.post_form("/password/change", {"new_password": TEMP, "confirm": TEMP})
    assert response.status_code == 422
    assert "not the temporary one" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, temp_user_id).activated_at is None


def test_after_the_change_the_temporary_password_fails(client, temp_user_id):
    client.sign_in("pat.parent", TEMP)
    client.post_form("/password/change", {"new_password": NEW, "confirm": NEW})
    client.post_form("/sign-out", token_from="/parent")
    assert client.sign_in("pat.parent", TEMP).status_code == 401
    assert client.sign_in("pat.parent", NEW).status_code == 302


def test_expired_temporary_password_is_refused_with_next_step(app, client, temp_user_id):
    with time_machine.travel(utcnow() + timedelta(days=14, seconds=1), tick=False):
        response = client.sign_in("pat.parent", TEMP)
    assert response.status_code == 401
    assert "temporary password has expired" in response.get_data(as_text=True)
    assert client.get("/parent").status_code == 302  # not signed in


def test_temporary_password_works_one_second_before_expiry(client, temp_user_id):
    with time_machine.travel(utcnow() + timedelta(days=14, seconds=-1), tick=False):
        assert client.sign_in("pat.parent", TEMP).headers["Location"] == "/password/change"


def test_password_change_signs_every_other_session_out(app, temp_user_id):
    with app.app_context():
        user = db.session.get(User, temp_user_id)
        user.must_change_password = False
        db.session.commit()
    device1, device2 = app.test_client(), app.test_client()
    device1.sign_in("pat.parent", TEMP)
    device2.sign_in("pat.parent", TEMP)
    assert device2.get("/parent").status_code == 200
    response = device1.post_form(
        "/password/change",
        {"current_password": TEMP, "new_password": NEW, "confirm": NEW},
        token_from="/parent",
    )
    assert response.status_code == 302
    assert device1.get("/parent").status_code == 200
    assert device2.get("/parent").status_code == 302  # its session died with the old epoch


def test_changing_password_needs_the_current_one(app, client):
    with app.app_context():
        make_user(Role.TEACHER, school=make_school(), username="t.one")
        db.session.commit()
    client.sign_in("t.one", PASSWORD)
    response = client.post_form(
        "/password/change",
        {"current_password": "wrong", "new_password": NEW + "xx", "confirm": NEW + "xx"},
    )
    assert response.status_code == 422
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "password_change_failed" in actions
        assert "password_changed" not in actions


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("x" * 7 + "q", True),  # students: 8 is the minimum
        ("abcdefg", False),  # 7 characters
        ("password", False),  # common
        ("12345678", False),  # sequence
        ("aaaaaaaa", False),  # repetition
        ("sam.student", False),  # the username
        ("🦊 rainbow fox", True),  # emoji and spaces are fine
        ("a" * 40 + "b" * 40, True),  # long passwords are welcome
    ],
)
def test_student_password_policy(app, password, ok):
    with app.app_context():
        user = make_user(Role.STUDENT, username="sam.student", grade="08", password=None)
        if ok:
            passwords.check_policy(password, user)
        else:
            with pytest.raises(PolicyError):
                passwords.check_policy(password, user)


def test_policy_minimums_follow_role_and_young_grades(app):
    with app.app_context():
        staff = make_user(Role.TEACHER, password=None)
        young = make_user(Role.STUDENT, grade="02", password=None)
        with pytest.raises(PolicyError, match="at least 15"):
            passwords.check_policy("fourteen chars", staff)
        passwords.check_policy("fifteen chars!!", staff)
        passwords.check_policy("zebra7", young)


def test_school_name_is_a_context_word(app):
    with app.app_context():
        user = make_user(Role.PARENT, school=make_school("Hillcrest Academy"), password=None)
        with pytest.raises(PolicyError, match="name, username or school"):
            passwords.check_policy("hillcrest academy", user)


def test_long_passwords_are_not_truncated(app, client):
    long_password = "correct horse battery staple " * 3  # 87 characters
    with app.app_context():
        user = make_user(Role.PARENT, username="long.pw", password=long_password)
        assert passwords.verify_password(user.password_hash, long_password)
        assert not passwords.verify_password(user.password_hash, long_password[:65])
    assert client.sign_in("long.pw", long_password[:65]).status_code == 401


def test_unicode_passwords_are_normalised(app):
    with app.app_context():
        hashed = passwords.hash_password("ﬁsh and chips café")  # ligature fi
        assert passwords.verify_password(hashed, "fish and chips café")


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("probeschool", False),  # the school's name without its space
        ("Probe School 2026", False),  # digits and spaces do not hide it
        ("probe-school!probe-school", False),  # repeated
        ("sam.studentsam.student", False),  # the username repeated
        ("Sam Student 12345!", False),  # the person's names
        ("probe school loves kites and rain", True),  # plenty beside the school's name
        ("violet harbour lantern", True),
    ],
)
def test_context_words_are_found_inside_a_password(app, password, ok):
    with app.app_context():
        user = make_user(
            Role.PARENT,
            school=make_school("Probe School"),
            username="sam.student",
            given_name="Sam",
            family_name="Student",
            password=None,
        )
        if ok:
            passwords.check_policy(password, user)
        else:
            with pytest.raises(PolicyError, match="name, username or school"):
                passwords.check_policy(password, user)


def test_a_changed_password_is_announced_by_email_but_not_the_first_one(app, client):
    from webapp.extensions import mail

    with app.app_context():
        make_user(Role.PARENT, username="pat.known", email="pat@home.example")
        db.session.commit()
    client.sign_in("pat.known", PASSWORD)
    with mail.record_messages() as sent:
        response = client.post_form(
            "/password/change",
            {"current_password": PASSWORD, "new_password": NEW, "confirm": NEW},
        )
    assert response.status_code == 302
    assert [m.recipients for m in sent] == [["pat@home.example"]]
    assert sent[0].subject == "Your Keyslip password was changed"
    assert "pat.known" in sent[0].body and NEW not in sent[0].body and "http" not in sent[0].body


def test_the_first_password_after_a_temporary_one_sends_no_notice(app, client, temp_user_id):
    from webapp.extensions import mail

    with app.app_context():
        db.session.get(User, temp_user_id).email = "pat@home.example"
        db.session.commit()
    client.sign_in("pat.parent", TEMP)
    with mail.record_messages() as sent:
        client.post_form("/password/change", {"new_password": NEW, "confirm": NEW})
    assert sent == []


def test_a_mail_failure_does_not_undo_the_change(app, client, monkeypatch):
    from webapp.services import auth

    def down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(auth, "send_mail", down)
    with app.app_context():
        make_user(Role.PARENT, username="pat.known", email="pat@home.example")
        db.session.commit()
    client.sign_in("pat.known", PASSWORD)
    response = client.post_form(
        "/password/change", {"current_password": PASSWORD, "new_password": NEW, "confirm": NEW}
    )
    assert response.status_code == 302
    client.post_form("/sign-out", token_from="/parent")
    assert client.sign_in("pat.known", NEW).status_code == 302
