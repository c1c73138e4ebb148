"""PIN recovery: username + PIN sets a new password, the PIN changes, five wrong PINs lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from markupsafe import escape
from sqlalchemy import select

from tests.factories import make_school, make_user
from tests.family.conftest import actions
from webapp.delivery import codes
from webapp.extensions import db, mail
from webapp.family import recovery
from webapp.models import Role, User, utcnow
from webapp.services import audit, passwords, settings

NEW = "purple otter river"


@pytest.fixture
def student(app) -> tuple[int, str]:
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        kid = make_user(Role.STUDENT, school=school, username="sam.kid", grade="05")
        pin = codes.issue_student_pin(kid, actor=audit.SYSTEM)
        db.session.commit()
        return kid.id, pin


def _recover(client, pin, username="sam.kid", password=NEW):
    return client.post_form(
        "/forgot-password/pin",
        {"username": username, "pin": pin, "new_password": password, "confirm": password},
    )


def _wrong(pin: str) -> str:
    return pin[:-1] + ("A" if pin[-1] != "A" else "B")


def test_username_and_pin_set_a_new_password_and_the_pin_changes(app, client, student):
    student_id, pin = student
    response = _recover(client, codes.display(pin).lower())
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200  # signed in
    with app.app_context():
        kid = db.session.get(User, student_id)
        assert passwords.verify_password(kid.password_hash, NEW)
        assert not codes.check_student_pin(kid, pin)  # the PIN changed
        assert codes.show_student_pin(student_id, actor=kid) != pin
        db.session.rollback()
    assert "pin_recovery_used" in actions(app)


def test_a_used_pin_does_not_work_twice(app, student):
    _, pin = student
    assert _recover(app.test_client(), pin).status_code == 303
    assert _recover(app.test_client(), pin, password="another good phrase").status_code == 422


def test_a_wrong_pin_and_an_unknown_username_get_the_same_message(app, client, student):
    _, pin = student
    with app.app_context():
        make_user(Role.TEACHER, username="t.teacher")
        db.session.commit()
    pages = [
        _recover(app.test_client(), _wrong(pin)),
        _recover(app.test_client(), pin, username="no.such.kid"),
        _recover(app.test_client(), pin, username="t.teacher"),  # not a student
    ]
    assert {page.status_code for page in pages} == {422}
    for page in pages:
        assert str(escape(recovery.PIN_REFUSED)) in page.get_data(as_text=True)
    assert actions(app).count("pin_recovery_failed") == 3


def test_five_wrong_pins_in_an_hour_lock_pin_recovery(app, student):
    student_id, pin = student
    answers = [_recover(app.test_client(), _wrong(pin)).get_data(as_text=True) for _ in range(5)]
    assert all(str(escape(recovery.PIN_REFUSED)) in a for a in answers[:4])
    assert str(escape(recovery.PIN_LOCKED)) in answers[4]
    # Even the right PIN is refused while locked, and the password stays as it was.
    locked = _recover(app.test_client(), pin)
    assert locked.status_code == 422
    assert "Ask your teacher" in locked.get_data(as_text=True)
    with app.app_context():
        kid = db.session.get(User, student_id)
        assert not passwords.verify_password(kid.password_hash, NEW)
        assert codes.check_student_pin(kid, pin)
    assert "pin_recovery_locked" in actions(app)
    with time_machine.travel(utcnow() + timedelta(minutes=61)):
        assert _recover(app.test_client(), pin).status_code == 303


def test_wrong_pins_for_one_account_do_not_lock_another(app, student):
    _, pin = student
    with app.app_context():
        other = make_user(Role.STUDENT, username="other.kid")
        other_pin = codes.issue_student_pin(other, actor=audit.SYSTEM)
        db.session.commit()
    for _ in range(5):
        _recover(app.test_client(), _wrong(pin))
    assert _recover(app.test_client(), other_pin, username="other.kid").status_code == 303


def test_a_refused_password_with_the_right_pin_counts_nothing_and_changes_nothing(
    app, client, student
):
    student_id, pin = student
    response = _recover(client, pin, password="sam.kid")
    assert response.status_code == 422
    assert "name, username or school" in response.get_data(as_text=True)
    with app.app_context():
        assert codes.check_student_pin(db.session.get(User, student_id), pin)
    assert "pin_recovery_failed" not in actions(app)


def test_a_student_of_a_single_sign_on_school_is_sent_there(app, client, student):
    student_id, pin = student
    with app.app_context():
        school = db.session.get(User, student_id).schools[0]
        admin = make_user(Role.ADMIN, school=school)
        settings.set("sso_roles", ["student"], school, admin)
        db.session.commit()
    response = _recover(client, pin)
    assert "single sign-on" in response.get_data(as_text=True)
    with app.app_context():
        assert codes.check_student_pin(db.session.get(User, student_id), pin)


def test_a_student_with_an_email_is_told_the_password_changed(app, client, student):
    student_id, pin = student
    with app.app_context():
        db.session.get(User, student_id).email = "sam@home.example"
        db.session.commit()
    with mail.record_messages() as sent:
        _recover(client, pin)
    assert [m.recipients for m in sent] == [["sam@home.example"]]
    assert pin not in sent[0].body and NEW not in sent[0].body


@pytest.mark.settings(RATELIMIT_ENABLED=True, PIN_RECOVERY_RATE_LIMIT="3 per hour")
def test_wrong_pins_are_rate_limited_per_address(app, student):
    _, pin = student
    client = app.test_client()
    statuses = [_recover(client, "AAAA-BBBB", username=f"kid{n}").status_code for n in range(4)]
    assert statuses == [422, 422, 422, 429]


def test_an_unknown_username_is_refused_like_a_wrong_pin(app):
    with app.app_context():
        with pytest.raises(recovery.PinRefused) as refused:
            recovery.recover_with_pin("nobody", "AAAA-BBBB", NEW)
        assert refused.value.user is None
        assert db.session.scalar(select(User.id)) is None
