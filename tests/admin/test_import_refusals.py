"""The upload page refuses a file that is no roster, says why, and keeps nothing."""

from __future__ import annotations

import html

from sqlalchemy import func, select

from tests.admin.test_imports import upload
from tests.factories import PASSWORD
from webapp.extensions import db
from webapp.models import ImportRun
from webapp.services import uploads

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def test_a_png_gets_the_upload_form_back_with_the_reason(app, client, world):  # noqa: F811
    client.sign_in("admin.a", PASSWORD)

    response = upload(client, PNG, name="people.csv", school_id=world.school_a)

    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "people.csv: This looks like a PNG image, not a CSV or ZIP roster export" in page
    assert 'name="file"' in page and "Upload and preview" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0
        assert list(uploads.upload_dir().glob("*")) == []


def test_an_empty_file_gets_the_upload_form_back(app, client, world):  # noqa: F811
    client.sign_in("admin.a", PASSWORD)

    response = upload(client, b"", name="people.csv", school_id=world.school_a)

    assert response.status_code == 422
    assert "The file is empty" in response.get_data(as_text=True)
