"""An admin opens a batch with a delivery the mail server refused, retries it, and watches
the batch finish, in Chromium against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import violations
from tests.delivery.conftest import make_district
from tests.factories import PASSWORD
from webapp.delivery import batches
from webapp.extensions import db
from webapp.models import User

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_retry_a_refused_delivery_and_watch_the_batch_finish(
    smtp_app,
    smtp_server,
    live_server,
    browser,
    viewport,
):
    smtp_server.refuse["student1@families.example"] = "550 5.1.1 No such user here"
    district = make_district(smtp_app, 3)
    with smtp_app.app_context():
        admin = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, admin)
        db.session.commit()
        batch_id = batch.id
    assert len(smtp_server.messages) == 2

    context = browser.new_context(viewport=viewport, bypass_csp=True)
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server + "/sign-in")
    page.get_by_label("Username or email").fill("office.admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/admin/")
    page.get_by_role("link", name=f"Batch {batch_id}").first.click()  # needs attention
    expect(page.get_by_role("heading", name=f"Batch {batch_id}: link by email")).to_be_visible()
    page.get_by_role("link", name="Failed", exact=True).click()
    expect(page.get_by_text("550 5.1.1 No such user here")).to_be_visible()
    assert violations(page) == []

    smtp_server.refuse.clear()  # the address is fixed at the other end
    page.get_by_role("button", name="Retry the 1 failed").click()
    progress = page.locator("#batch-progress")
    expect(progress).to_contain_text("3 of 3 done")
    expect(progress).to_contain_text("done")
    assert len(smtp_server.messages) == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1
    context.close()
