"""Grades read as a school writes them, on every page that shows one."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role
from webapp.web.labels import grade_label


@pytest.mark.parametrize(
    ("code", "label"),
    [("04", "Grade 4"), ("12", "Grade 12"), ("KG", "Kindergarten"), ("PK", "Pre-K"),
     ("UG", "Ungraded"), ("Year 7", "Year 7"), (None, "")],
)  # fmt: skip
def test_grade_codes_read_as_words(code, label):
    assert grade_label(code) == label


def test_the_student_account_page_says_grade_4(app, client):
    with app.app_context():
        make_user(Role.STUDENT, school=make_school(), username="kid", grade="04")
        db.session.commit()
    client.sign_in("kid", PASSWORD)
    page = client.get("/account").get_data(as_text=True)
    assert "<dd>Grade 4</dd>" in page and ">04<" not in page
