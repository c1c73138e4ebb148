"""Format detection: a spreadsheet folder is no broken Clever upload; real bundles stay."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.factories import make_school, make_user
from tests.roster.bundles import school_bundle
from webapp.extensions import db
from webapp.imports import mapping, runs
from webapp.models import Role
from webapp.roster import detect_format, read_roster

# An SIS's own export: School ID and Student ID columns like Clever's, but its own files.
SIS_FOLDER = {
    "students.csv": "School ID,Student ID,First Name,Last Name,Grade\n1,s1,Ann,Lee,5\n",
    "parents.csv": "Parent ID,Student ID,First Name,Last Name,Email\np1,s1,Mia,Lee,mia@x.org\n",
    "staff.csv": "School ID,Staff ID,First Name,Last Name,Email\n1,t1,Tia,Moss,tia@x.org\n",
    "sections.csv": "School ID,Section ID,Teacher ID,Name\n1,c1,t1,Maths\n",
    "enrollments.csv": "School ID,Section ID,Student ID\n1,c1,s1\n",
}
CLEVER = {
    "schools.csv": "School_id,School_name,School_number\nS1,Maple,101\n",
    "students.csv": "School_id,Student_id,First_name,Last_name,Grade\nS1,s1,Ann,Lee,5\n",
    "teachers.csv": "School_id,Teacher_id,First_name,Last_name\nS1,t1,Tia,Moss\n",
    "sections.csv": "School_id,Section_id,Teacher_id,Name\nS1,c1,t1,Maths\n",
    "enrollments.csv": "School_id,Section_id,Student_id\nS1,c1,s1\n",
}
SDS = {
    "orgs.csv": "sourcedId,name,type\n1,Oak,school\n",
    "users.csv": "sourcedId,username,givenName,familyName\nu1,ann,Ann,Lee\n",
    "roles.csv": "userSourcedId,orgSourcedId,role,isPrimary\nu1,1,student,TRUE\n",
}


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode() for name, text in files.items()}


def without(files: dict[str, str], *names: str) -> dict[str, str]:
    return {name: text for name, text in files.items() if name not in names}


@pytest.mark.parametrize(
    "files",
    [
        SIS_FOLDER,
        without(SIS_FOLDER, "parents.csv"),  # staff but no teachers.csv: not Clever's
        {**without(SIS_FOLDER, "enrollments.csv"), "rosters.csv": SIS_FOLDER["enrollments.csv"]},
    ],
    ids=["with-parents", "staff-instead-of-teachers", "rosters-file"],
)
def test_a_spreadsheet_folder_is_offered_as_spreadsheets(files) -> None:
    assert detect_format(encoded(files)) == "csv"


def test_the_spreadsheet_folder_is_read_without_clever_errors() -> None:
    roster = read_roster(encoded(SIS_FOLDER))

    assert roster.format == "csv"
    assert not [p for p in roster.errors if "Clever" in p.message]


@pytest.mark.parametrize(
    "files",
    [
        CLEVER,
        {**CLEVER, "staff.csv": "School_id,Staff_id,Staff_email,First_name,Last_name\n"},
        without(CLEVER, "sections.csv", "enrollments.csv"),  # people only: still Clever
        {"students.csv": CLEVER["students.csv"]},  # one Clever file on its own
        {**CLEVER, "notes.csv": "x\n"},  # a stray file beside a whole Clever export
        # Clever's own spelling: the Clever reader then says teachers.csv is missing.
        without(CLEVER, "teachers.csv"),
    ],
    ids=["whole", "with-staff", "people-only", "students-alone", "stray-file", "no-teachers"],
)
def test_clever_uploads_stay_clever(files) -> None:
    assert detect_format(encoded(files)) == "clever"


def test_a_clever_upload_missing_a_file_and_holding_foreign_ones_is_spreadsheets() -> None:
    files = {**without(CLEVER, "teachers.csv"), "parents.csv": SIS_FOLDER["parents.csv"]}

    assert detect_format(encoded(files)) == "csv"


def test_oneroster_and_sds_bundles_keep_their_formats() -> None:
    bundle = school_bundle(10).files()
    assert detect_format(bundle) == "oneroster-1.1"
    # Without its manifest a OneRoster 1.1 bundle is still told by its users.csv columns.
    assert detect_format({k: v for k, v in bundle.items() if k != "manifest.csv"}) == (
        "oneroster-1.1"
    )
    assert detect_format(encoded(SDS)) == "sds-2.1"


def test_an_uploaded_spreadsheet_folder_goes_to_choosing_the_columns(app) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in SIS_FOLDER.items():
            archive.writestr(f"export/{name}", text)
    with app.app_context():
        school = make_school("Oak School")
        admin = make_user(Role.ADMIN, school=school, username="admin.oak")
        run = runs.start_import(
            "export.zip",
            buffer.getvalue(),
            runs.ImportRequest(school_id=school.id),
            actor=admin,
        )
        assert run.format == "csv" and mapping.needs_mapping(run)
        db.session.rollback()
