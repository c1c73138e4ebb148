"""`flask roster import` refuses a file that is no roster, says why, and keeps nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.models import ImportRun, Role
from webapp.services import uploads


def test_an_image_is_refused_with_the_reason_and_nothing_kept(app, tmp_path):
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        school_id = school.id
    path = tmp_path / "people.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01")

    result = app.test_cli_runner().invoke(
        args=["roster", "import", str(path), "--school", str(school_id)]
    )

    assert result.exit_code == 1
    assert "people.csv: This looks like a PNG image, not a CSV or ZIP roster export" in (
        result.output
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0
        assert list(uploads.upload_dir().glob("*")) == []
