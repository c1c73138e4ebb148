"""The main journeys in a real browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role, utcnow
from webapp.services import demo

pytestmark = pytest.mark.browser


@pytest.mark.settings(HTMX_USE_CDN=True)
def test_demo_admin_signs_in_and_sees_the_console(app, live_server, page):
    with app.app_context():
        demo.seed_demo(2026)
        db.session.commit()
    page.goto(live_server + "/")
    page.get_by_label("Username or email").fill("admin")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/admin/")
    expect(page.get_by_role("heading", name="Console", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Maple Grove Elementary")).to_be_visible()
    expect(page.get_by_role("heading", name="Riverside High School")).to_be_visible()
    # The CDN was refused, so htmx came from the vendored copy.
    assert page.evaluate("typeof window.htmx") == "object"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(live_server + "/sign-in")
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def test_new_parent_changes_temporary_password_with_the_keyboard(app, live_server, page):
    with app.app_context():
        user = make_user(
            Role.PARENT,
            school=make_school(),
            username="new.parent",
            password="tiger-moon-42-temp",
            activated=False,
        )
        user.must_change_password = True
        user.temp_password_expires_at = utcnow() + timedelta(days=14)
        db.session.commit()
    page.goto(live_server + "/sign-in")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.get_by_label("Username or email").fill("new.parent")
    page.get_by_label("Password").fill("tiger-moon-42-temp")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/password/change")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Type the new password again").fill("short")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("alert").filter(has_text="at least 12")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("our family loves the seaside")
    page.get_by_label("Type the new password again").fill("our family loves the seaside")
    page.get_by_role("button", name="Save password").click()
    page.wait_for_url(live_server + "/parent")
    expect(page.get_by_role("heading", name="My children")).to_be_visible()


@pytest.mark.settings(ENVIRONMENT="development", MAIL_SERVER=None)
def test_parent_sets_a_password_from_an_emailed_link_in_the_dev_outbox(app, live_server, page):
    from webapp.delivery.batches import send_credentials

    app.config["BASE_URL"] = live_server  # links are built from BASE_URL, never the Host header
    with app.app_context():
        school = make_school("Maple Grove")
        admin = make_user(Role.ADMIN, school=school, username="office")
        parent = make_user(
            Role.PARENT,
            school=school,
            username="pat.link",
            password=None,
            email="pat@home.example",
            given_name="Pat",
        )
        send_credentials([parent.id], "link", "email", {"idempotency_key": "journey-0001"}, admin)
        db.session.commit()  # the inline job sends the email into the development outbox
    # The outbox holds live links: only a signed-in admin may open it.
    page.goto(live_server + "/sign-in?next=/dev/outbox")
    page.get_by_label("Username or email").fill("office")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("row").filter(has_text="pat@home.example").get_by_role("link").click()
    link = page.get_by_role("link").filter(has_text="/set-password/").first.get_attribute("href")
    page.context.clear_cookies()  # the parent opens it on their own device
    page.goto(link)
    page.wait_for_url(live_server + "/set-password")  # the token has left the address bar
    page.get_by_label("New password", exact=True).fill("sandcastles at low tide")
    page.get_by_label("Type the new password again").fill("sandcastles at low tide")
    page.get_by_role("button").filter(has_text="password").click()
    page.wait_for_url(live_server + "/parent")
    expect(page.get_by_role("heading", name="My children")).to_be_visible()
