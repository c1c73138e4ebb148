"""Print pages over HTTP: wiring, headers and who may print."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from tests.printing.conftest import awaiting_batch, make_outsider, pdf_pages, slips_in
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, Role, User


def _admin_client(client, username="office.admin"):
    client.sign_in(username, PASSWORD)
    return client


def _print(client, batch_id, **data):
    path = f"/admin/batches/{batch_id}/print"
    return client.post_form(path, {"layout": "saver", "per_page": "8", **data})


def test_the_print_page_offers_the_layouts_and_counts_the_people(app, client, office):
    batch_id = awaiting_batch(app, office)
    page = _admin_client(client).get(f"/admin/batches/{batch_id}/print")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3 people need a printed slip" in html
    assert "Paper saver" in html and "One per page" in html


def test_posting_the_form_returns_the_pdf_privately(app, client, office):
    batch_id = awaiting_batch(app, office)
    response = _print(_admin_client(client), batch_id)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="batch-{batch_id}-\d{{8}}\.pdf"', disposition)
    assert len(slips_in(response.data)) == 3
    with app.app_context():
        assert db.session.get(CredentialBatch, batch_id).status == "done"


def test_a_printed_batch_page_says_there_is_nothing_left(app, client, office):
    batch_id = awaiting_batch(app, office)
    _print(_admin_client(client), batch_id)
    again = _print(client, batch_id)
    assert again.status_code == 409
    assert "nothing left to print" in again.get_data(as_text=True)


def test_printing_needs_a_csrf_token(app, client, office):
    batch_id = awaiting_batch(app, office)
    _admin_client(client)
    response = client.post(f"/admin/batches/{batch_id}/print", data={"layout": "saver"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(CredentialBatch, batch_id).status == "awaiting_print"


@pytest.mark.parametrize("who", ["teacher", "other.admin"])
def test_a_teacher_or_an_admin_of_another_school_gets_404(app, client, office, who):
    batch_id = awaiting_batch(app, office)
    make_outsider(app, office, who)
    client.sign_in(who, PASSWORD)
    assert client.get(f"/admin/batches/{batch_id}/print").status_code == 404
    token = client.csrf_token("/account")
    response = client.post(
        f"/admin/batches/{batch_id}/print",
        data={"csrf_token": token, "layout": "saver", "per_page": "8"},
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(CredentialBatch, batch_id).status == "awaiting_print"
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "authz_denied"))


@pytest.mark.settings(PRINT_JOB_THRESHOLD=2)
def test_a_large_batch_shows_progress_then_downloads_once_for_the_requester(app, client, office):
    batch_id = awaiting_batch(app, office)
    page = _print(_admin_client(client), batch_id)
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    print_id = re.search(r"/admin/prints/([0-9a-f]{32})/download", html).group(1)
    status = client.get(f"/admin/prints/{print_id}", headers={"HX-Request": "true"})
    assert 'id="print-job"' in status.get_data(as_text=True)
    assert "Download the PDF" in status.get_data(as_text=True)

    path = f"/admin/prints/{print_id}/download"
    download = client.post_form(path, token_from=f"/admin/prints/{print_id}")
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Cache-Control"] == "no-store"
    assert len(slips_in(download.data)) == 3
    assert client.post_form(path, token_from="/account").status_code == 404
    assert client.get(f"/admin/prints/{print_id}").status_code == 404


@pytest.mark.settings(PRINT_JOB_THRESHOLD=2)
def test_another_admin_cannot_see_or_download_someone_elses_print(app, client, office):
    batch_id = awaiting_batch(app, office)
    html = _print(_admin_client(client), batch_id).get_data(as_text=True)
    print_id = re.search(r"/admin/prints/([0-9a-f]{32})/download", html).group(1)
    with app.app_context():
        admin = db.session.get(User, office.admin_id)
        make_user(Role.ADMIN, schools=admin.schools, username="colleague")
        db.session.commit()
    other = app.test_client()
    other.sign_in("colleague", PASSWORD)
    assert other.get(f"/admin/prints/{print_id}").status_code == 404
    path = f"/admin/prints/{print_id}/download"
    assert other.post_form(path, token_from="/account").status_code == 404
    # Still there for the person who asked.
    assert client.post_form(path, token_from="/account").status_code == 200


def test_parent_letters_for_a_class(app, client, office):
    _admin_client(client)
    response = client.post_form("/admin/print/letters", {"class_id": str(office.class_id)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "parent-letters-class-" in response.headers["Content-Disposition"]
    pages = pdf_pages(response.data)
    assert len(pages) == 3
    assert all("Parent code" in page for page in pages)


def test_parent_letters_for_another_school_get_404(app, client, office):
    with app.app_context():
        elsewhere = make_school("Riverside High School")
        db.session.commit()
        elsewhere_id = elsewhere.id
    _admin_client(client)
    response = client.post_form("/admin/print/letters", {"school_id": str(elsewhere_id)})
    # Not even offered as a choice: the form refuses it before any service runs.
    assert response.status_code in (404, 422)
    assert response.headers.get("Content-Type") != "application/pdf"


def test_parent_letters_need_a_choice(app, client, office):
    _admin_client(client)
    response = client.post_form("/admin/print/letters", {})
    assert response.status_code == 422
    assert "Choose a school" in response.get_data(as_text=True)
