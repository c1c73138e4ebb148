"""The Schools page over HTTP, and the preview's "create the schools named in the file"."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, ImportRun, Role, School


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        oak, elm = make_school("Oak School"), make_school("Elm School")
        make_user(Role.ADMIN, username="district", district_wide=True)
        make_user(Role.ADMIN, school=oak, username="limited")
        make_user(Role.STUDENT, school=oak)
        db.session.commit()
        return {"oak": oak.id, "elm": elm.id}


def school(app, school_id: int) -> School:
    with app.app_context():
        found = db.session.get(School, school_id)
        db.session.expunge(found)
        return found


def test_district_admin_sees_schools_with_people_counts_and_the_nav_link(client, ids):
    client.sign_in("district", PASSWORD)
    page = client.get("/admin/schools")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/admin/schools">Schools</a>' in html
    row = re.search(rf'<tr id="school-{ids["oak"]}">(.*?)</tr>', html, re.S).group(1)
    assert "Oak School" in row and "<td>2</td>" in row


def test_the_schools_link_is_only_for_district_admins(client, ids):
    client.sign_in("limited", PASSWORD)
    assert 'href="/admin/schools"' not in client.get("/admin/").get_data(as_text=True)


def test_school_limited_admin_gets_404_and_an_audit_row(app, client, ids):
    client.sign_in("limited", PASSWORD)
    assert client.get("/admin/schools").status_code == 404
    assert client.get(f"/admin/schools/{ids['oak']}/edit").status_code == 404
    token = client.csrf_token("/admin/")
    created = client.post("/admin/schools", data={"csrf_token": token, "name": "Pine"})
    assert created.status_code == 404
    renamed = client.post(
        f"/admin/schools/{ids['oak']}", data={"csrf_token": token, "name": "Mine now"}
    )
    assert renamed.status_code == 404
    with app.app_context():
        denied = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "authz_denied").order_by(AuditEvent.id)
        ).all()
        assert len(denied) == 4 and denied[0].details["endpoint"] == "admin.schools_index"
        assert db.session.scalar(select(func.count()).select_from(School)) == 2
    assert school(app, ids["oak"]).name == "Oak School"


def test_district_admin_creates_a_school(app, client, ids):
    client.sign_in("district", PASSWORD)
    response = client.post_form(
        "/admin/schools", {"name": "Pine Academy", "sis_id": "pine-1"}, token_from="/admin/schools"
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/schools"
    with app.app_context():
        pine = db.session.scalar(select(School).where(School.name == "Pine Academy"))
        assert pine.sourced_id == "pine-1"
    assert "Pine Academy created." in client.get("/admin/schools").get_data(as_text=True)


def test_a_taken_name_is_shown_next_to_the_name_field(app, client, ids):
    client.sign_in("district", PASSWORD)
    response = client.post_form(
        "/admin/schools", {"name": "oak SCHOOL"}, token_from="/admin/schools"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(
        r'id="name"[^>]*>\s*<p class="field-error">There is already a school called', html
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(School)) == 2


def test_district_admin_renames_and_sets_the_sis_id(app, client, ids):
    client.sign_in("district", PASSWORD)
    form = client.get(f"/admin/schools/{ids['oak']}/edit").get_data(as_text=True)
    assert 'value="Oak School"' in form
    response = client.post_form(
        f"/admin/schools/{ids['oak']}",
        {"name": "Big Oak", "sis_id": "oak-7"},
        token_from=f"/admin/schools/{ids['oak']}/edit",
    )
    assert response.status_code == 303
    oak = school(app, ids["oak"])
    assert (oak.name, oak.sourced_id) == ("Big Oak", "oak-7")


def test_a_taken_sis_id_is_shown_next_to_its_field_and_nothing_changes(app, client, ids):
    with app.app_context():
        db.session.get(School, ids["elm"]).sourced_id = "s-1"
        db.session.get(School, ids["elm"]).source = app.config["ROSTER_SOURCE"]
        db.session.commit()
    client.sign_in("district", PASSWORD)
    response = client.post_form(
        f"/admin/schools/{ids['oak']}",
        {"name": "Big Oak", "sis_id": "s-1"},
        token_from=f"/admin/schools/{ids['oak']}/edit",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="sis_id"[^>]*>\s*<p class="field-error">The SIS id', html)
    assert school(app, ids["oak"]).name == "Oak School"


def test_changes_need_a_csrf_token(app, client, ids):
    client.sign_in("district", PASSWORD)
    assert client.post("/admin/schools", data={"name": "Pine"}).status_code == 400
    assert client.post(f"/admin/schools/{ids['oak']}", data={"name": "X"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(School)) == 2


def upload(client, data: str) -> int:
    response = client.post(
        "/admin/imports",
        data={
            "csrf_token": client.csrf_token("/admin/imports/new"),
            "format": "csv",
            "mode": "add-update",
            "username_template": "{first}.{last}",
            "file": (io.BytesIO(data.encode()), "people.csv"),
        },
        content_type="multipart/form-data",
    )
    run_id = int(re.search(r"/admin/imports/(\d+)", response.headers["Location"]).group(1))
    mapping = {"map-sourced_id": "ID", "map-given_name": "First", "map-family_name": "Last"}
    client.post_form(
        f"/admin/imports/{run_id}/mapping",
        {**mapping, "map-school": "School", "map-role": "=student"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )
    return run_id


def test_the_preview_offers_to_create_the_schools_named_in_the_file(app, client, ids):
    client.sign_in("district", PASSWORD)
    run_id = upload(client, "ID,First,Last,School\n1,Ada,Lovelace,1\n2,Alan,Turing,oak school\n")
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "School &#39;1&#39; is not in Keyslip" in preview
    assert "cannot be applied" in preview and "Not in Keyslip" in preview
    response = client.post_form(
        f"/admin/imports/{run_id}/create-schools",
        {"create_schools": "y"},
        token_from=f"/admin/imports/{run_id}",
    )
    assert response.status_code == 303
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "created when applied" in preview and "Apply this import" in preview
    with app.app_context():
        assert db.session.get(ImportRun, run_id).create_schools is True
        assert db.session.scalar(select(func.count()).select_from(School)) == 2


def test_a_limited_admins_preview_says_only_district_admins_create_schools(app, client, ids):
    client.sign_in("limited", PASSWORD)
    run_id = upload(client, "ID,First,Last,School\n1,Ada,Lovelace,1\n")
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "Only a district-wide admin can create schools" in preview
    assert "create-schools" not in preview
    response = client.post_form(
        f"/admin/imports/{run_id}/create-schools",
        {"create_schools": "y"},
        token_from=f"/admin/imports/{run_id}",
    )
    assert response.status_code == 422
    with app.app_context():
        assert not db.session.get(ImportRun, run_id).create_schools
