"""The import preview page and the CLI summary say whose file password was left alone."""

from __future__ import annotations

import pytest

from tests.admin.test_imports import mapped_run
from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role

SHEET = "Pupil ID,Forename,Surname,Password\n1,Ada,Lovelace,copper-kettle-winter-7\n"


@pytest.fixture
def school_id(app) -> int:
    with app.app_context():
        school = make_school("Alpha School")
        make_user(Role.ADMIN, school=school, username="admin.a")
        make_user(Role.ADMIN, username="district", district_wide=True)
        # Ada uses her account already; an earlier import of this school's sheets made it.
        make_user(Role.STUDENT, school=school, source=f"csv:{school.id}", sourced_id="1")
        db.session.commit()
        return school.id


def test_the_preview_counts_and_explains_the_passwords_left_alone(app, client, school_id):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, school_id, SHEET, passwords="set")
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert 'data-count="file_credentials_left_alone">1<' in preview
    assert 'data-count="file_credentials_reset">0<' in preview
    problems = client.get(f"/admin/imports/{run_id}?tab=problems").get_data(as_text=True)
    assert "was left as it is" in problems and "reset link" in problems
    assert "copper-kettle-winter-7" not in preview + problems


def test_the_cli_summary_counts_the_passwords_left_alone(app, school_id, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(SHEET.replace("Pupil ID,Forename,Surname", "ID,First Name,Last Name"))
    result = app.test_cli_runner().invoke(
        args=["roster", "import", str(path), "--school", str(school_id), "--passwords", "set"]
    )
    assert result.exit_code == 0, result.output
    assert "0 reset from the file" in result.output and "1 left alone" in result.output
    assert "column Password: The password of" in result.output
