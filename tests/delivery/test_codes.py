"""Parent codes and student PINs: format, alphabet, lookup, encryption at rest, expiry, uses."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from tests.factories import link_guardian, make_school, make_user
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import ParentCode, Role, StudentPin, User
from webapp.services import audit
from webapp.services.errors import NotAllowed, PolicyError

FORMAT = re.compile(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")


@pytest.fixture
def people(app):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, school=school)
        student = make_user(Role.STUDENT, school=school, password=None)
        db.session.commit()
        return admin.id, student.id


def _issue(app, people):
    admin_id, student_id = people
    with app.app_context():
        issued = codes.issue_parent_code(_user(student_id), actor=_user(admin_id))
        db.session.commit()
        return issued


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def test_alphabet_has_no_look_alikes():
    assert len(codes.ALPHABET) == 31
    assert not set(codes.ALPHABET) & set("0O1IL")
    assert len(set(codes.ALPHABET)) == 31


def test_parent_code_is_twelve_characters_shown_in_groups(app, people):
    issued = _issue(app, people)
    assert FORMAT.fullmatch(issued.formatted)
    assert len(issued.code) == 12


def test_lookup_ignores_case_spaces_and_dashes(app, people):
    issued = _issue(app, people)
    with app.app_context():
        for typed in (
            issued.formatted,
            issued.formatted.lower(),
            issued.code,
            f" {issued.code[:4]} {issued.code[4:]} ",
        ):
            row = codes.find_parent_code(typed)
            assert row is not None and row.id == issued.code_id


@pytest.mark.parametrize(
    "typed", ["", "ABCD", "O0O0-O0O0-O0O0", "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "é" * 12, "1" * 12]
)
def test_wrong_or_malformed_codes_find_nothing(app, people, typed):
    _issue(app, people)
    with app.app_context():
        assert codes.find_parent_code(typed) is None


def test_code_is_encrypted_at_rest_and_looked_up_by_keyed_hash(app, people):
    issued = _issue(app, people)
    with app.app_context():
        row = db.session.get(ParentCode, issued.code_id)
        assert issued.code.encode() not in row.code_ciphertext
        assert row.code_lookup != hashlib.sha256(issued.code.encode()).hexdigest()
        dump = repr(db.session.execute(text("SELECT * FROM parent_codes")).all())
        assert issued.code not in dump and issued.formatted not in dump


def test_code_can_be_shown_again_to_those_who_may_see_the_student(app, people):
    issued = _issue(app, people)
    admin_id, student_id = people
    with app.app_context():
        assert codes.show_parent_code(student_id, actor=_user(admin_id)) == issued.formatted
        parent = make_user(Role.PARENT)
        link_guardian(parent, _user(student_id))
        assert codes.show_parent_code(student_id, actor=parent) == issued.formatted
        stranger = make_user(Role.PARENT)
        with pytest.raises(NotAllowed):
            codes.show_parent_code(student_id, actor=stranger)


def test_ciphertext_moved_to_another_student_does_not_decrypt(app, people):
    issued = _issue(app, people)
    admin_id, _ = people
    with app.app_context():
        other = make_user(Role.STUDENT, school=_user(admin_id).schools[0], password=None)
        row = db.session.get(ParentCode, issued.code_id)
        row.student_id = other.id
        db.session.flush()
        assert codes.show_parent_code(other.id, actor=_user(admin_id)) is None


def test_reissue_voids_the_old_code(app, people):
    first = _issue(app, people)
    second = _issue(app, people)
    with app.app_context():
        assert codes.find_parent_code(first.code) is None
        assert codes.find_parent_code(second.code).id == second.code_id
        live = db.session.scalars(select(ParentCode).where(ParentCode.voided_at.is_(None))).all()
        assert [row.id for row in live] == [second.code_id]


@pytest.mark.parametrize(("offset", "found"), [(-1, True), (1, False)])
def test_code_expires_after_ninety_days(app, people, offset, found):
    issued = _issue(app, people)
    assert abs(issued.expires_at - codes.utcnow() - timedelta(days=90)) < timedelta(minutes=1)
    with time_machine.travel(issued.expires_at + timedelta(seconds=offset), tick=False):
        with app.app_context():
            assert (codes.find_parent_code(issued.code) is not None) is found


def test_code_works_for_five_uses_then_stops(app, people):
    issued = _issue(app, people)
    with app.app_context():
        for _ in range(5):
            row = codes.find_parent_code(issued.code)
            assert codes.use_parent_code(row)
        db.session.commit()
        assert codes.find_parent_code(issued.code) is None
        row = db.session.get(ParentCode, issued.code_id)
        assert not codes.use_parent_code(row)
        assert row.use_count == 5


def test_void_stops_the_code(app, people):
    issued = _issue(app, people)
    admin_id, student_id = people
    with app.app_context():
        assert codes.void_parent_code(student_id, actor=_user(admin_id)) == 1
        assert codes.find_parent_code(issued.code) is None


def test_parent_codes_belong_to_students(app, people):
    admin_id, _ = people
    with app.app_context():
        with pytest.raises(PolicyError):
            codes.issue_parent_code(_user(admin_id), actor=audit.SYSTEM)


def test_student_pin_is_eight_characters_encrypted_and_checked(app, people):
    admin_id, student_id = people
    with app.app_context():
        pin = codes.issue_student_pin(_user(student_id), actor=_user(admin_id))
        db.session.commit()
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{8}", pin)
        row = db.session.scalar(select(StudentPin).where(StudentPin.student_id == student_id))
        assert pin.encode() not in row.pin_ciphertext and pin not in row.pin_lookup
        assert codes.show_student_pin(student_id, actor=_user(admin_id)) == pin
        assert codes.check_student_pin(_user(student_id), pin.lower())
        assert not codes.check_student_pin(_user(student_id), "2222BBBB")
        new_pin = codes.issue_student_pin(_user(student_id), actor=_user(admin_id))
        assert not codes.check_student_pin(_user(student_id), pin) or new_pin == pin
