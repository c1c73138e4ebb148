"""A real district file in a real browser: headerless, Latin-1, one bad row, then a cut export.

The admin maps a headerless file by position, applies the rest past a row in error, and a
later cut-down export stops at the safety valve with every removal shown per school. At
desktop and phone width; axe-core finds nothing serious on the pages on the way.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import violations
from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role

pytestmark = pytest.mark.browser

# Semicolons, Latin-1, no header row; line 3 has no first name.
ROWS = ["1;Jörg;Müller;5", "2;Anaïs;Dupré;5", "3;;Nameless;6", "4;Zoë;Brontë;6", "5;Ana;Peña;6"]


def sign_in(page, live_server: str, username: str) -> None:
    page.goto(live_server + "/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/admin/")


def upload(page, live_server: str, path, *, headerless: bool, complete: bool = False) -> None:
    page.goto(live_server + "/admin/imports/new")
    page.get_by_label("Roster file (.csv or .zip)").set_input_files(str(path))
    page.get_by_label("School").select_option(label="Oak School")
    if headerless:
        page.get_by_label("The first row is data").check()
    if complete:
        page.get_by_label("This file is the complete roster").check()
    page.get_by_role("button", name="Upload and preview").click()


def no_sideways_scroll(page) -> bool:
    """Tell whether the page fits its width (wide tables scroll inside their card)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [1280, 390])
def test_headerless_file_with_a_bad_row_then_a_cut_export(
    app, live_server, browser, tmp_path, width
):
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.ADMIN, username="oak.admin", school=school)
        db.session.commit()
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(10_000)
    sheet = tmp_path / "pupils.csv"
    sheet.write_bytes(("\r\n".join(ROWS) + "\r\n").encode("latin-1"))
    sign_in(page, live_server, "oak.admin")

    upload(page, live_server, sheet, headerless=True)
    expect(page.get_by_role("heading", name="Choose the columns")).to_be_visible()
    expect(page.get_by_text("Müller").first).to_be_visible()  # decoded as the rows are
    assert violations(page) == []
    page.get_by_label("ID", exact=True).select_option("Column 1")
    page.get_by_label("First name").select_option("Column 2")
    page.get_by_label("Last name").select_option("Column 3")
    page.get_by_label("Role").select_option("=student")
    page.get_by_role("button", name="Save columns and preview").click()

    expect(page.locator('[data-count="new"]')).to_have_text("4")  # counted despite the error
    expect(page.locator("#held-back")).to_contain_text("1 row of the file has errors")
    assert violations(page) == [] and no_sideways_scroll(page)
    page.get_by_label("Apply the rest and hold back the rows in error").check()
    page.get_by_role("button", name="Apply this import").click()
    expect(page.get_by_text("Applied. 4 new")).to_be_visible()

    # A complete export that lost most of the school: the valve stops it, removals shown.
    cut = tmp_path / "cut.csv"
    cut.write_bytes(("\r\n".join(ROWS[:1]) + "\r\n").encode("latin-1"))
    upload(page, live_server, cut, headerless=True, complete=True)
    # The columns are the ones remembered from the first file: offered, confirmed by a click.
    expect(page.get_by_label("First name")).to_have_value("Column 2")
    page.get_by_role("button", name="Save columns and preview").click()
    table = page.get_by_role("table").filter(has_text="People leaving")
    expect(table).to_contain_text("3 of 4")
    expect(table).to_contain_text("over the 10% limit")
    assert violations(page) == [] and no_sideways_scroll(page)
    context.close()
