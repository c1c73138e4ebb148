"""The mapping page for an upload of several spreadsheet files, over HTTP."""

from __future__ import annotations

import io
import re
import zipfile

from sqlalchemy import select

from tests.admin.test_imports import run_id_from, upload
from tests.factories import PASSWORD
from webapp.extensions import db
from webapp.models import ImportRun, User

STUDENTS = "Student ID,First Name,Last Name\nS1,Ada,Lovelace\nS2,Alan,Turing\n"
STAFF = "Staff ID,First Name,Last Name\nT1,Grace,Hopper\n"


def two_files() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("students.csv", STUDENTS)
        archive.writestr("staff.csv", STAFF)
    return buffer.getvalue()


def offered(page: str) -> dict[str, str]:
    """Return the selected value of every select on the page."""
    return dict(
        re.findall(
            r'name="([\w-]+)">(?:(?!</select>).)*?<option value="([^"]*)" selected', page, re.S
        )
    )


def test_each_file_is_shown_with_its_guessed_role_and_columns(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = upload(client, two_files(), name="school.zip", school_id=world.school_a)
    assert response.headers["Location"].endswith("/mapping")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    chosen = offered(page)
    # Files come in the zip's order: students.csv, then staff.csv.
    assert page.index("<legend>students.csv</legend>") < page.index("<legend>staff.csv</legend>")
    assert chosen["role-0"] == "students" and chosen["role-1"] == "staff"
    assert chosen["map-0-sourced_id"] == "Student ID" and chosen["map-0-given_name"] == "First Name"
    assert "map-1-role" not in chosen  # no role column: the admin must say who the staff are
    assert "Everyone is a teacher" in page


def test_saving_without_the_staff_files_role_is_refused_and_shown_again(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = run_id_from(upload(client, two_files(), name="school.zip", school_id=world.school_a))
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    response = client.post_form(
        f"/admin/imports/{run_id}/mapping",
        {**offered(page), "action": "save"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )
    assert response.status_code == 422
    assert "say whether this file holds staff or teachers" in response.get_data(as_text=True)
    with app.app_context():
        assert "mapping" not in db.session.get(ImportRun, run_id).options


def test_saved_roles_and_columns_lead_to_a_preview_of_everyone(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = run_id_from(upload(client, two_files(), name="school.zip", school_id=world.school_a))
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    response = client.post_form(
        f"/admin/imports/{run_id}/mapping",
        {**offered(page), "map-1-role": "=teacher", "action": "save"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )
    assert response.status_code == 303
    with app.app_context():
        files = db.session.get(ImportRun, run_id).options["mapping"]["files"]
    assert (
        files["staff.csv"]["role"] == "staff"
        and files["staff.csv"]["columns"]["role"] == "=teacher"
    )
    assert files["students.csv"]["role"] == "students"
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "Hopper" in preview or ">3<" in preview
    client.post_form(f"/admin/imports/{run_id}/apply", {}, token_from=f"/admin/imports/{run_id}")
    with app.app_context():
        roles = dict(db.session.execute(select(User.sourced_id, User.role)).tuples().all())
    assert roles["T1"] == "teacher" and roles["S1"] == roles["S2"] == "student"


def test_choosing_another_role_shows_that_roles_columns_without_saving(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = run_id_from(upload(client, two_files(), name="school.zip", school_id=world.school_a))
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    response = client.post_form(
        f"/admin/imports/{run_id}/mapping",
        {**offered(page), "role-1": "classes", "action": "roles"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="map-1-class_id"' in body and 'name="map-1-given_name"' not in body
    with app.app_context():
        assert "mapping" not in db.session.get(ImportRun, run_id).options


def test_a_classes_file_alone_is_mapped_as_classes_not_as_people(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    classes = "Class ID,Title,Teacher ID\nC1,Maths,T1\n"
    response = upload(client, classes, name="classes.csv", school_id=world.school_a)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    chosen = offered(page)
    assert chosen["role-0"] == "classes" and chosen["map-0-class_id"] == "Class ID"
    assert chosen["map-0-title"] == "Title" and chosen["map-0-teacher_id"] == "Teacher ID"


def test_a_single_parents_file_without_ids_is_mapped_by_name_and_child(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    parents = "First Name,Last Name,Child ID\nJo,Bloggs,S1\n"
    run_id = run_id_from(upload(client, parents, name="parents.csv", school_id=world.school_a))
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    chosen = offered(page)
    assert chosen["map-role"] == "=parent"  # the file's name says it, shown to confirm
    response = client.post_form(
        f"/admin/imports/{run_id}/mapping", chosen, token_from=f"/admin/imports/{run_id}/mapping"
    )
    assert response.status_code == 303
    preview = client.get(f"/admin/imports/{run_id}?tab=problems").get_data(as_text=True)
    assert "This parent has no ID, so Keyslip knows them by name and child (S1)" in preview
