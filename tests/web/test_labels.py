"""Grades as a school writes them and times on its clock, on every page that shows one."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role
from webapp.services import settings
from webapp.web.labels import grade_label, when


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


WINTER = datetime(2026, 12, 6, 19, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 6, 19, 5, tzinfo=UTC)


@pytest.mark.settings(TIME_ZONE="America/New_York")
def test_times_show_on_the_district_clock_without_a_school(app):
    with app.app_context():
        assert when(WINTER) == "6 Dec 2026 14:05 EST"
        assert when(SUMMER) == "6 Jul 2026 15:05 EDT"
        assert when(None) == ""


@pytest.mark.settings(TIME_ZONE="America/New_York")
def test_times_show_on_a_schools_own_clock_given_the_school_or_its_id(app):
    with app.app_context():
        prairie, harbor = make_school(), make_school()
        admin = make_user(Role.ADMIN, district_wide=True)
        settings.set("time_zone", "America/Chicago", prairie, admin)
        assert when(WINTER, prairie) == when(WINTER, prairie.id) == "6 Dec 2026 13:05 CST"
        assert when(WINTER, harbor) == "6 Dec 2026 14:05 EST"  # inherits the district's


def test_the_student_account_page_shows_the_last_sign_in_on_the_schools_clock(app, client):
    with app.app_context():
        school = make_school()
        admin = make_user(Role.ADMIN, district_wide=True)
        settings.set("time_zone", "Asia/Tokyo", school, admin)
        make_user(Role.STUDENT, school=school, username="kid")
        db.session.commit()
    client.sign_in("kid", PASSWORD)
    page = client.get("/account").get_data(as_text=True)
    assert re.search(r"<dt>Last sign-in</dt><dd>\d+ \w+ \d{4} \d\d:\d\d JST</dd>", page)
