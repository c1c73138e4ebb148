"""A teacher resets the class and downloads the slips; a student signs in with a password
read from that PDF and is made to choose a new one. Desktop and phone width, axe clean."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.test_accessibility import violations
from tests.factories import PASSWORD, make_class, make_school, make_user
from webapp.extensions import db
from webapp.models import Role

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def _sign_in(page, live_server, username, password):
    page.goto(live_server + "/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_teacher_prints_class_slips_and_a_student_signs_in_with_one(
    app, live_server, browser, viewport
):
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        teacher = make_user(Role.TEACHER, school=school, username="ms.rivera")
        kids = [
            make_user(
                Role.STUDENT,
                school=school,
                username=f"kid{n}",
                given_name=name,
                family_name="Park",
                grade="02",
                password=None,
            )  # fmt: skip
            for n, name in enumerate(["Mina", "Joon", "Ha-eun"])
        ]
        klass = make_class(school, teacher=teacher, students=kids, title="Grade 2 Room 4")
        db.session.commit()
        class_id = klass.id
    context = browser.new_context(viewport=viewport, bypass_csp=True, accept_downloads=True)
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(20_000)

    _sign_in(page, live_server, "ms.rivera", PASSWORD)
    page.get_by_role("link", name="Grade 2 Room 4").first.click()
    page.wait_for_url(f"{live_server}/teacher/classes/{class_id}")
    expect(page.get_by_role("heading", name="Grade 2 Room 4", level=1)).to_be_visible()
    assert violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1

    page.get_by_label("Everyone in the class").check()
    page.get_by_label("Layout").select_option("single")
    with page.expect_download() as info:
        page.get_by_role("button", name="Reset and download slips").click()
    pdf = Path(info.value.path()).read_bytes()
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3
    text = (
        reader.pages[0].extract_text()
        + reader.pages[1].extract_text()
        + reader.pages[2].extract_text()
    )
    password = re.search(r"kid0.*?\b([a-z]+-[a-z]+-\d+)\b", text, re.S).group(1)

    student = browser.new_context(viewport=viewport)
    student.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    spage = student.new_page()
    spage.set_default_timeout(20_000)
    _sign_in(spage, live_server, "kid0", password)
    spage.wait_for_url(live_server + "/password/change")
    spage.get_by_label("New password", exact=True).fill("blue kite day")
    spage.get_by_label("Type the new password again").fill("blue kite day")
    spage.get_by_role("button", name="Save password").click()
    spage.wait_for_url(re.compile(r".*/account$"))
    student.close()
    context.close()
