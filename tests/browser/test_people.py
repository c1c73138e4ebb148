"""An admin finds people, selects everyone matching across pages, and sends them links."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import demo, people

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_search_select_all_matching_and_send_links(
    app, live_server, browser, viewport, monkeypatch
):
    monkeypatch.setattr(people, "PER_PAGE", 5)
    with app.app_context():
        demo.seed_demo(2026)
        db.session.commit()
    context = browser.new_context(viewport=viewport)
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(live_server + "/sign-in")
    page.get_by_label("Username or email").fill("admin")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/admin/")
    page.get_by_role("link", name="People", exact=True).click()
    expect(page.get_by_role("heading", name="People", level=1)).to_be_visible()

    page.get_by_label("Role").select_option("parent")
    page.wait_for_url("**/admin/users?role=parent")  # the view is in the address bar
    results = page.locator("#people-results")
    expect(results).to_contain_text("people match")
    total = int(results.locator(".result-count strong").inner_text())
    assert total > 5

    page.get_by_label("Select everyone on this page").check()
    banner = page.locator("#select-all-banner")
    expect(banner).to_be_visible()
    banner.get_by_role("button", name=f"Select all {total} matching").click()
    expect(page.get_by_label(f"Every one of the {total} matching, on every page")).to_be_checked()
    page.get_by_label("With the selected people").select_option("link_email")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Send a set-password link by email")).to_be_visible()
    expect(page.get_by_text(f"You selected {total} people")).to_be_visible()
    page.get_by_role("button", name="Send a set-password link by email").click()
    page.wait_for_url("**/admin/batches/*")
    expect(page.locator("#batch-progress")).to_contain_text("of")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1
    context.close()
