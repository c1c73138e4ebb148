"""The column-mapping page for real spreadsheets: no header row, Latin-1, changed columns."""

from __future__ import annotations

import re

from tests.admin.conftest import World
from tests.admin.test_imports import run_id_from, save_mapping, upload
from tests.factories import PASSWORD
from webapp.extensions import db
from webapp.models import ImportRun

HEADERLESS = b"".join(f"{i};Kind{i};Familie{i};5a\n".encode() for i in range(1, 6))
BEFORE = "Pupil ID,Forename,Surname\n1,Ada,Lovelace\n2,Alan,Turing\n"
AFTER = "Pupil ID,Forename,Surname,Status,Email\n1,Ada,Lovelace,left,ada@example.org\n"


def new_count(page: str) -> int:
    match = re.search(r'data-count="new">\s*(\d+)', page)
    assert match, page
    return int(match.group(1))


def test_a_headerless_file_is_mapped_by_position_with_sample_values(app, client, world: World):
    client.sign_in("admin.a", PASSWORD)
    response = upload(
        client, HEADERLESS, name="klasse.csv", school_id=world.school_a, no_header="y"
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/mapping")
    run_id = run_id_from(response)
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    assert "no header row" in page
    assert '<option value="Column 2">Column 2 (e.g. Kind1)</option>' in page
    assert re.search(r"<th scope=\"row\">Column 3</th><td>Familie1, Familie2, Familie3</td>", page)
    saved = save_mapping(
        client, run_id, **{"sourced_id": "Column 1", "given_name": "Column 2",
                           "family_name": "Column 3", "role": "=student"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.get_data(as_text=True)
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert new_count(preview) == 5  # the first row is a pupil too


def test_a_latin1_header_shows_and_saves_as_written(app, client, world: World):
    client.sign_in("admin.a", PASSWORD)
    data = "Schüler-ID;Vorname;Nachname\n1;Jürgen;Müller\n".encode("latin-1")
    run_id = run_id_from(upload(client, data, name="schueler.csv", school_id=world.school_a))
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    assert '<option value="Schüler-ID" selected>' in page and "\ufffd" not in page
    assert save_mapping(client, run_id, **{"role": "=student"}).status_code == 303
    with app.app_context():
        assert db.session.get(ImportRun, run_id).options["mapping"]["sourced_id"] == "Schüler-ID"


def test_new_columns_since_the_remembered_mapping_must_be_confirmed(app, client, world: World):
    client.sign_in("admin.a", PASSWORD)
    first = run_id_from(upload(client, BEFORE, school_id=world.school_a))
    assert save_mapping(client, first, **{"role": "=student"}).status_code == 303
    second = run_id_from(upload(client, AFTER, school_id=world.school_a))
    page = client.get(f"/admin/imports/{second}/mapping").get_data(as_text=True)
    assert "this file has columns the last one did not: Status, Email" in page
    assert "<strong>Status</strong> looks like status" in page
    assert 'name="confirm-columns"' in page
    refused = save_mapping(client, second)
    assert refused.status_code == 422
    assert "tick the box" in refused.get_data(as_text=True)
    accepted = client.post_form(
        f"/admin/imports/{second}/mapping",
        {"map-sourced_id": "Pupil ID", "map-given_name": "Forename", "map-family_name": "Surname",
         "map-role": "=student", "map-status": "Status", "confirm-columns": "yes"},
        token_from=f"/admin/imports/{second}/mapping",
    )  # fmt: skip
    assert accepted.status_code == 303
    with app.app_context():
        assert db.session.get(ImportRun, second).options["mapping"]["status"] == "Status"


def test_the_same_columns_reuse_the_remembered_mapping_without_a_question(
    app, client, world: World
):
    client.sign_in("admin.a", PASSWORD)
    first = run_id_from(upload(client, BEFORE, school_id=world.school_a))
    assert save_mapping(client, first, **{"role": "=student"}).status_code == 303
    second = run_id_from(upload(client, BEFORE + "3,Grace,Hopper\n", school_id=world.school_a))
    page = client.get(f"/admin/imports/{second}/mapping").get_data(as_text=True)
    assert "the columns you chose last time" in page and 'name="confirm-columns"' not in page
    assert save_mapping(client, second).status_code == 303


def test_a_first_row_that_looks_like_data_can_be_read_as_data_on_the_mapping_page(
    app, client, world: World
):
    client.sign_in("admin.a", PASSWORD)
    data = b"1001;anna@example.org;Anna;Schmidt\n1002;ben@example.org;Ben;Meyer\n"
    run_id = run_id_from(upload(client, data, name="klasse.csv", school_id=world.school_a))
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    assert "The first row looks like data" in page
    response = client.post_form(
        f"/admin/imports/{run_id}/header",
        {"has-header": "no"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/mapping")
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    assert '<option value="Column 3">Column 3 (e.g. Anna)</option>' in page
    with app.app_context():
        assert db.session.get(ImportRun, run_id).options["has_header"] is False


def test_another_schools_admin_cannot_switch_the_header_choice(app, client, world: World):
    client.sign_in("admin.a", PASSWORD)
    run_id = run_id_from(upload(client, BEFORE, school_id=world.school_a))
    other = app.test_client()
    other.sign_in("admin.b", PASSWORD)
    response = other.post_form(
        f"/admin/imports/{run_id}/header", {"has-header": "no"}, token_from="/admin/imports/new"
    )
    assert response.status_code == 404
    with app.app_context():
        assert "has_header" not in db.session.get(ImportRun, run_id).options
