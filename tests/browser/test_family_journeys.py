"""Family journeys in Chromium, at desktop and phone width, with axe on every page visited:
a parent registers with a code and sees the child's PIN; a student recovers with that PIN."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import AXE, DESKTOP, PHONE, violations
from tests.factories import make_school, make_user
from tests.family.conftest import make_family
from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import Role
from webapp.services import audit

pytestmark = pytest.mark.browser

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture
def family_page(browser, viewport):
    """A page whose CSP lets axe in (as the accessibility sweep does); the CDN fails fast."""
    assert AXE.exists(), "make test installs axe-core into .cache/axe"
    context = browser.new_context(bypass_csp=True, viewport=viewport)
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _check(page, viewport, found: dict) -> None:
    problems = violations(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > viewport["width"] + 1:
        problems.append(f"the page is {width}px wide")
    if problems:
        found[page.url] = problems


@VIEWPORTS
def test_a_parent_registers_with_a_code_and_sees_the_pin(app, live_server, family_page, viewport):
    page, found = family_page, {}
    code = make_family(app).code
    page.goto(live_server + "/sign-in")
    page.get_by_role("link", name="Create your parent account").click()
    page.wait_for_url(live_server + "/parent/register")
    _check(page, viewport, found)
    page.get_by_label("Parent code").fill(code.lower())
    page.get_by_label("First name").fill("Maria")
    page.get_by_label("Last name").fill("Lopez")
    page.get_by_label("Email address").fill("maria@home.example")
    page.get_by_label("New password", exact=True).fill("blue kites over the harbour")
    page.get_by_label("Type the new password again").fill("blue kites over the harbour")
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(live_server + "/parent")
    expect(page.get_by_role("heading", name="Ava Lopez")).to_be_visible()
    expect(page.get_by_text("Valerie Frizzle")).to_be_visible()
    pin = page.locator(".code-display code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", pin)
    page.get_by_text("Help my child sign in").click()
    expect(page.get_by_text("The PIN works once")).to_be_visible()
    _check(page, viewport, found)
    assert found == {}


@VIEWPORTS
def test_a_student_recovers_with_the_pin(app, live_server, family_page, viewport):
    page, found = family_page, {}
    with app.app_context():
        student = make_user(
            Role.STUDENT, school=make_school("Riverside"), username="sam.kid", grade="05"
        )
        pin = codes.display(codes.issue_student_pin(student, actor=audit.SYSTEM))
        db.session.commit()
    page.goto(live_server + "/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(live_server + "/forgot-password")
    _check(page, viewport, found)
    page.get_by_role("link", name="use the PIN your parent sees").click()
    page.wait_for_url(live_server + "/forgot-password/pin")
    page.get_by_label("Your username").fill("sam.kid")
    page.get_by_label("The PIN your parent sees").fill("AAAA-BBBB")
    page.get_by_label("New password", exact=True).fill("purple otter river")
    page.get_by_label("Type the new password again").fill("purple otter river")
    page.get_by_role("button", name="Set my new password").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    _check(page, viewport, found)
    page.get_by_label("The PIN your parent sees").fill(pin)
    page.get_by_label("New password", exact=True).fill("purple otter river")
    page.get_by_label("Type the new password again").fill("purple otter river")
    page.get_by_role("button", name="Set my new password").click()
    page.wait_for_url(live_server + "/account")
    expect(page.get_by_text("Your PIN has changed")).to_be_visible()
    _check(page, viewport, found)
    # The new password signs in; the old PIN is spent.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username or email").fill("sam.kid")
    page.get_by_label("Password").fill("purple otter river")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/account")
    assert found == {}
