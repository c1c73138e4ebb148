"""An admin imports a small spreadsheet in a real browser: upload, columns, preview, apply."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role

pytestmark = pytest.mark.browser

SHEET = "Pupil ID,Forename,Surname,Year\n1,Ada,Lovelace,5\n2,Alan,Turing,5\n3,Grace,Hopper,6\n"


def test_admin_uploads_previews_and_applies_a_spreadsheet(app, live_server, page, tmp_path):
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.ADMIN, username="oak.admin", school=school)
        db.session.commit()
    sheet = tmp_path / "pupils.csv"
    sheet.write_text(SHEET)
    page.goto(live_server + "/sign-in")
    page.get_by_label("Username or email").fill("oak.admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/admin/")
    page.get_by_role("link", name="Import a roster").click()
    page.get_by_label("Roster file (.csv or .zip)").set_input_files(str(sheet))
    page.get_by_label("School").select_option(label="Oak School")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Choose the columns")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Forename")
    page.get_by_role("button", name="Save columns and preview").click()
    expect(page.locator('[data-count="new"]')).to_have_text("3")
    page.get_by_role("link", name="Problems (1)").click()  # htmx swaps the tab in place
    expect(page.get_by_text("no role column")).to_be_visible()
    page.get_by_role("button", name="Apply this import").click()
    expect(page.get_by_text("Applied. 3 new")).to_be_visible()
    expect(page.locator('#import-status [data-count="new"]')).to_have_text("3")
