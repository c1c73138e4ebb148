"""Temporary passwords: word-based for young students, forced change, expiry, scope."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from tests.factories import make_class, make_school, make_user
from webapp.delivery import links, temp_passwords
from webapp.delivery.links import LinkStatus
from webapp.extensions import db
from webapp.models import Role, User
from webapp.services import passwords
from webapp.services.errors import NotAllowed

YOUNG = re.compile(r"([a-z]+)-([a-z]+)-(\d{2})")


def test_word_list_is_short_kind_common_words():
    words = temp_passwords.kind_words()
    assert len(words) >= 250
    assert len(set(words)) == len(words)
    assert all(re.fullmatch(r"[a-z]{3,7}", w) for w in words)
    for rude in ("kill", "dead", "hate", "stupid", "ugly", "gun", "fat", "poop", "die"):
        assert rude not in words


def test_young_students_get_two_words_and_a_number(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        kids = [
            make_user(Role.STUDENT, school=school, password=None, grade=g) for g in ("KG", "02")
        ]
        issued = temp_passwords.issue_temporary_passwords(kids, admin)
        words = set(temp_passwords.kind_words())
        for item in issued:
            match = YOUNG.fullmatch(item.password)
            assert match, item.password
            assert {match.group(1), match.group(2)} <= words
            assert 10 <= int(match.group(3)) <= 99


@pytest.mark.parametrize(
    ("role", "grade", "minimum"),
    [
        (Role.STUDENT, "09", 12),
        (Role.PARENT, None, 12),
        (Role.TEACHER, None, 15),
    ],
)
def test_everyone_else_gets_random_characters_at_least_their_minimum(app, role, grade, minimum):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        user = make_user(role, school=school, password=None, grade=grade)
        [item] = temp_passwords.issue_temporary_passwords([user], admin)
        chars = item.password.replace("-", "")
        assert len(chars) >= minimum
        assert re.fullmatch(r"[2-9a-hjkmnp-z]+", chars)
        assert not set(chars) & set("01ilo")
        passwords.check_policy(item.password, user)


def test_young_grades_follow_the_school_setting(app):
    from webapp.services import settings

    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school, district_wide=True)
        settings.set("young_student_grades", ["04"], school, admin)
        kid = make_user(Role.STUDENT, school=school, password=None, grade="04")
        [item] = temp_passwords.issue_temporary_passwords([kid], admin)
        assert YOUNG.fullmatch(item.password)


def test_passwords_are_random_each_time(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        kids = [
            make_user(Role.STUDENT, school=school, password=None, grade="09") for _ in range(20)
        ]
        issued = temp_passwords.issue_temporary_passwords(kids, admin)
        assert len({item.password for item in issued}) == 20


@pytest.fixture
def temp(app) -> tuple[str, str, str]:
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        kid = make_user(Role.STUDENT, school=school, password=None, grade="01", username="lily.k")
        link = links.issue_link(kid, actor=admin)
        [item] = temp_passwords.issue_temporary_passwords([kid], admin)
        db.session.commit()
        assert item.password not in (kid.password_hash or "")
        return kid.username, item.password, link.url.rsplit("/", 1)[1]


def test_issuing_voids_outstanding_links(app, temp):
    _, _, token = temp
    with app.app_context():
        assert links.check_token(token).status is LinkStatus.REPLACED


def test_first_sign_in_forces_a_new_password_not_the_same_one(app, client, temp):
    username, password, _ = temp
    response = client.sign_in(username, password)
    assert response.headers["Location"] == "/password/change"
    assert client.get("/account").headers["Location"] == "/password/change"
    same = client.post_form("/password/change", {"new_password": password, "confirm": password})
    assert same.status_code == 422
    assert "not the temporary one" in same.get_data(as_text=True)
    ok = client.post_form(
        "/password/change", {"new_password": "sunny garden", "confirm": "sunny garden"}
    )
    assert ok.status_code == 302
    client.post_form("/sign-out", {}, token_from="/account")
    assert client.sign_in(username, password).status_code == 401
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        assert user.activated_at is not None and not user.must_change_password


@pytest.mark.parametrize(("offset", "works"), [(-1, True), (1, False)])
def test_temporary_password_expires_after_fourteen_days(app, client, temp, offset, works):
    username, password, _ = temp
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        expires = user.temp_password_expires_at
    with time_machine.travel(expires + timedelta(seconds=offset), tick=False):
        response = client.sign_in(username, password)
    if works:
        assert response.headers["Location"] == "/password/change"
    else:
        assert response.status_code == 401
        assert "temporary password has expired" in response.get_data(as_text=True)


def test_teacher_cannot_issue_passwords_outside_own_classes(app):
    with app.app_context():
        school = make_school()
        teacher = make_user(Role.TEACHER, school=school)
        mine = make_user(Role.STUDENT, school=school, password=None)
        other = make_user(Role.STUDENT, school=school, password=None)
        make_class(school, teacher=teacher, students=[mine])
        with pytest.raises(NotAllowed):
            temp_passwords.issue_temporary_passwords([mine, other], teacher)
        assert mine.password_hash is None and other.password_hash is None
        [item] = temp_passwords.issue_temporary_passwords([mine], teacher)
        assert passwords.verify_password(mine.password_hash, item.password)
