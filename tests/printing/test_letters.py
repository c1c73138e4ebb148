"""Parent letters for a class, a grade or a school."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from tests.printing.conftest import HOSTILE_NAMES, make_office, pdf_pages
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import AuditEvent, ParentCode, Role, User
from webapp.printing import letters
from webapp.services.errors import NotAllowed, PolicyError


def _letters(app, office, **choice):
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        selection, pdf = letters.print_letters(actor, **choice)
        db.session.commit()
        return [s.id for s in selection.students], pdf_pages(pdf)


def _code_on(page: str) -> str:
    return next(w for w in page.split() if len(w) == 14 and codes.normalise(w))


def test_a_class_gets_one_letter_a_page_with_a_working_code_and_its_expiry(app):
    office = make_office(app, len(HOSTILE_NAMES), names=HOSTILE_NAMES)
    ids, pages = _letters(app, office, class_id=office.class_id)
    assert len(pages) == len(ids) == 5
    with app.app_context():
        for page in pages:
            row = codes.find_parent_code(_code_on(page))
            student = db.session.get(User, row.student_id)
            assert student.display_name in page
            assert row.expires_at.strftime("%d %B %Y") in page
            assert "https://keyslip.test/" in page
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "letters_printed"))


def test_a_grade_of_a_school_gets_letters_only_for_that_grade(app):
    office = make_office(app, 2, grade="05")
    with app.app_context():
        school = db.session.get(User, office.admin_id).schools[0]
        make_user(Role.STUDENT, school=school, grade="KG", username="little.one", password=None)
        db.session.commit()
    ids, pages = _letters(app, office, school_id=office.school_id, grade="kg")
    assert len(pages) == 1 and len(ids) == 1
    _, whole = _letters(app, office, school_id=office.school_id)
    assert len(whole) == 3


def test_a_live_code_is_kept_and_shown_again(app):
    office = make_office(app, 1)
    _, first = _letters(app, office, class_id=office.class_id)
    _, second = _letters(app, office, class_id=office.class_id)
    assert _code_on(first[0]) == _code_on(second[0])
    with app.app_context():
        assert len(db.session.scalars(select(ParentCode)).all()) == 1


def test_letters_for_another_school_or_class_are_refused(app):
    office = make_office(app, 1)
    with app.app_context():
        elsewhere = make_school("Riverside High School")
        other = make_user(Role.ADMIN, school=elsewhere, username="other.admin")
        db.session.commit()
        for choice in ({"school_id": office.school_id}, {"class_id": office.class_id}):
            with pytest.raises(NotAllowed):
                letters.print_letters(other, **choice)


def test_letters_need_a_choice_and_someone_in_it(app):
    office = make_office(app, 1)
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        with pytest.raises(PolicyError, match="Choose a school"):
            letters.print_letters(actor)
        with pytest.raises(PolicyError, match="Nobody to print"):
            letters.print_letters(actor, school_id=office.school_id, grade="12")
