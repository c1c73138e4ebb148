"""An admin imports a small spreadsheet in a real browser: upload, columns, preview, apply."""

from __future__ import annotations

import zipfile

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
    # No role column: the file's name says pupils, shown for the admin to confirm.
    expect(page.get_by_label("Role")).to_have_value("=student")
    page.get_by_role("button", name="Save columns and preview").click()
    expect(page.locator('[data-count="new"]')).to_have_text("3")
    page.get_by_role("button", name="Apply this import").click()
    expect(page.get_by_text("Applied. 3 new")).to_be_visible()
    expect(page.locator('#import-status [data-count="new"]')).to_have_text("3")


def test_admin_imports_students_parents_and_staff_from_one_zip(app, live_server, page, tmp_path):
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.ADMIN, username="oak.admin", school=school)
        db.session.commit()
    bundle = tmp_path / "export.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("students.csv", "Student ID,First Name,Last Name\nS1,Ada,Lovelace\n")
        archive.writestr(
            "parents.csv", "Parent ID,First Name,Last Name,Child ID\nP1,Mary,Lovelace,S1\n"
        )
        archive.writestr("staff.csv", "Staff ID,First Name,Last Name\nT1,Grace,Hopper\n")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server + "/sign-in")
    page.get_by_label("Username or email").fill("oak.admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server + "/admin/")
    page.get_by_role("link", name="Import a roster").click()
    page.get_by_label("Roster file (.csv or .zip)").set_input_files(str(bundle))
    page.get_by_label("School").select_option(label="Oak School")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Choose the files and columns")).to_be_visible()
    expect(page.locator("#role-0")).to_have_value("students")
    expect(page.locator("#role-1")).to_have_value("parents")
    expect(page.locator("#role-2")).to_have_value("staff")
    page.get_by_role("button", name="Save columns and preview").click()
    # Staff are never students by default: the page asks who they are.
    expect(page.get_by_text("say whether this file holds staff or teachers")).to_be_visible()
    page.locator("#map-2-role").select_option("=teacher")
    page.get_by_role("button", name="Save columns and preview").click()
    expect(page.locator('[data-count="new"]')).to_have_text("3")
    page.get_by_role("button", name="Apply this import").click()
    expect(page.get_by_text("Applied. 3 new")).to_be_visible()
