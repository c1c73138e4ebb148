"""Spreadsheet uploads of several files: roles per file, parents, classes and memberships."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports import runs, sheets, sync
from webapp.imports.write import apply_plan
from webapp.models import Class, Enrollment, GuardianLink, ImportRun, Role, School, User
from webapp.services.errors import PolicyError

STUDENTS = b"Student ID,First Name,Last Name,Grade\nS1,Ada,Lovelace,5\nS2,Alan,Turing,5\n"
PARENTS = (
    b"Parent ID,First Name,Last Name,Email,Child ID,Relationship\n"
    b"P1,Mary,Lovelace,mary@example.org,S1,Mother\n"
    b"P2,Tom,Turing,,S2,Father\n"
)
STAFF = b"Staff ID,First Name,Last Name,Email\nT1,Grace,Hopper,grace@example.org\n"
CLASSES = b"Class ID,Title,Code,Teacher ID\nC1,Maths 5,M5,T1\n"
MEMBERS = b"Class ID,Student ID\nC1,S1\nC1,S2\n"
DISTRICT = {
    "students.csv": STUDENTS,
    "parents.csv": PARENTS,
    "staff.csv": STAFF,
    "classes.csv": CLASSES,
    "memberships.csv": MEMBERS,
}


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        school = make_school("Eiche")
        admin = make_user(Role.ADMIN, school=school, username="admin.e")
        db.session.commit()
        return {"school": school.id, "admin": admin.id}


def admin(ids) -> User:
    return db.session.get(User, ids["admin"])


def start(ids, name: str, data: bytes) -> ImportRun:
    request = runs.ImportRequest(school_id=ids["school"])
    return runs.start_import(name, data, request, actor=admin(ids))


def offered(run: ImportRun, **roles_of_everyone: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Return what the mapping page offers, as chosen, with a role for named files."""
    chosen = {}
    for file in sheets.files_choice(run):
        columns = dict(file.columns.mapping)
        if file.name in roles_of_everyone:
            columns["role"] = roles_of_everyone[file.name]
        chosen[file.name] = (file.role or "", columns)
    return chosen


def people(app) -> dict[str, tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(User.sourced_id, User.role, User.family_name).where(User.role != Role.ADMIN)
        ).all()
        return {sid: (role, family) for sid, role, family in rows}


def links(app) -> set[tuple[str, str]]:
    with app.app_context():
        parent, student = User.__table__.alias(), User.__table__.alias()
        rows = db.session.execute(
            select(parent.c.sourced_id, student.c.sourced_id)
            .select_from(GuardianLink)
            .join(parent, parent.c.id == GuardianLink.parent_id)
            .join(student, student.c.id == GuardianLink.student_id)
        ).all()
        return {tuple(row) for row in rows}


def enrollments(app) -> set[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Class.sourced_id, User.sourced_id, Enrollment.role)
            .join(Class, Class.id == Enrollment.class_id)
            .join(User, User.id == Enrollment.user_id)
        ).all()
        return {tuple(row) for row in rows}


def test_each_file_of_an_upload_is_offered_with_the_role_its_name_and_columns_say(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        roles = {file.name: file.role for file in sheets.files_choice(run)}
    assert roles == {
        "students.csv": "students",
        "parents.csv": "parents",
        "staff.csv": "staff",
        "classes.csv": "classes",
        "memberships.csv": "memberships",
    }


def test_a_zip_of_students_parents_staff_classes_and_memberships_imports_everyone(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        sheets.save_file_mappings(run, offered(run, **{"staff.csv": "=teacher"}), actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
        assert plan.errors == []
        apply_plan(plan, actor=admin(ids))
        db.session.commit()
    assert people(app) == {
        "S1": ("student", "Lovelace"),
        "S2": ("student", "Turing"),
        "P1": ("parent", "Lovelace"),
        "P2": ("parent", "Turing"),
        "T1": ("teacher", "Hopper"),
    }
    assert links(app) == {("P1", "S1"), ("P2", "S2")}
    assert enrollments(app) == {
        ("C1", "T1", "teacher"),
        ("C1", "S1", "student"),
        ("C1", "S2", "student"),
    }


def test_the_relationship_word_is_kept_on_the_parent_link(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        sheets.save_file_mappings(run, offered(run, **{"staff.csv": "=teacher"}), actor=admin(ids))
        apply_plan(runs.build_plan(run, actor=admin(ids)), actor=admin(ids))
        db.session.commit()
        kept = db.session.execute(
            select(User.sourced_id, GuardianLink.relation).join(
                User, User.id == GuardianLink.parent_id
            )
        ).all()
    assert sorted(tuple(row) for row in kept) == [("P1", "Mother"), ("P2", "Father")]


def test_a_staff_file_without_a_role_column_must_have_its_role_said(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        with pytest.raises(PolicyError) as raised:
            sheets.save_file_mappings(run, offered(run), actor=admin(ids))
    assert raised.value.problems == [
        "staff.csv: There is no role column, so say whether this file holds staff or teachers "
        "(or choose its role column). Staff are never imported as students."
    ]


def test_a_staff_file_read_without_a_role_is_an_error_and_nobody_becomes_a_student(app, ids):
    with app.app_context():
        run = start(ids, "staff.csv", STAFF)
        run.options = {**run.options, "mapping": {"sourced_id": "Staff ID",
                       "given_name": "First Name", "family_name": "Last Name"}}  # fmt: skip
        plan = runs.build_plan(run, actor=admin(ids))
    assert plan.roster.people == []
    assert [(e.file, e.kind) for e in plan.errors] == [("staff.csv", "no-role")]


def test_a_row_saying_student_in_a_staff_file_is_refused(app, ids):
    data = b"Staff ID,First Name,Last Name,Role\nT1,Grace,Hopper,teacher\nX1,Kid,Smith,student\n"
    with app.app_context():
        run = start(ids, "school.zip", zipped({"staff.csv": data, "students.csv": STUDENTS}))
        sheets.save_file_mappings(run, offered(run), actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
    assert {p.sourced_id: p.role for p in plan.roster.people if p.file == "staff.csv"} == {
        "T1": "teacher"
    }
    assert [(e.file, e.line, e.kind) for e in plan.errors] == [("staff.csv", 3, "bad-role")]


def test_a_parents_file_alone_links_to_students_imported_earlier(app, ids):
    with app.app_context():
        run = start(ids, "students.csv", STUDENTS)
        sheets.automatic_file_mappings(run, actor=admin(ids))
        apply_plan(runs.build_plan(run, actor=admin(ids)), actor=admin(ids))
        db.session.commit()
        run = start(ids, "parents.csv", PARENTS)
        sheets.automatic_file_mappings(run, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
        assert plan.errors == [] and plan.counts()["guardian_links"] == 2
        apply_plan(plan, actor=admin(ids))
        db.session.commit()
    assert links(app) == {("P1", "S1"), ("P2", "S2")}


def test_a_parents_spreadsheet_links_to_the_schools_students_from_the_sis(app, ids):
    with app.app_context():
        school = db.session.get(School, ids["school"])
        make_user(Role.STUDENT, school=school, source="sis", sourced_id="S1", family_name="Lee")
        other = make_school("Linde")
        make_user(Role.STUDENT, school=other, source="sis", sourced_id="S2", family_name="Roe")
        db.session.commit()
        run = start(ids, "parents.csv", PARENTS)
        sheets.automatic_file_mappings(run, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
        apply_plan(plan, actor=admin(ids))
        db.session.commit()
    # S2 is at another school: the parent is imported, but not linked to someone else's pupil.
    assert links(app) == {("P1", "S1")}
    assert [(w.line, w.kind) for w in plan.warnings if w.kind == "dangling-link"] == [
        (3, "dangling-link")
    ]


def test_a_parent_without_id_email_or_phone_is_known_by_name_and_child(app, ids):
    data = b"First Name,Last Name,Child ID\nJo,Bloggs,S1\n"
    with app.app_context():
        run = start(ids, "students.csv", STUDENTS)
        sheets.automatic_file_mappings(run, actor=admin(ids))
        apply_plan(runs.build_plan(run, actor=admin(ids)), actor=admin(ids))
        db.session.commit()
        run = start(ids, "parents.csv", data)
        sheets.automatic_file_mappings(run, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
        again = runs.build_plan(run, actor=admin(ids))
        apply_plan(plan, actor=admin(ids))
        db.session.commit()
    (parent,) = plan.roster.people
    assert parent.sourced_id.startswith("parent-") and parent.email is None
    assert again.roster.people[0].sourced_id == parent.sourced_id  # stable
    assert [(w.file, w.line) for w in plan.warnings if w.kind == "parent-by-name"] == [
        ("parents.csv", 2)
    ]
    assert links(app) == {(parent.sourced_id, "S1")}


def test_roles_and_columns_are_remembered_per_school_for_the_next_upload(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        chosen = offered(run, **{"staff.csv": "=teacher"})
        chosen["memberships.csv"] = ("ignore", {})
        sheets.save_file_mappings(run, chosen, actor=admin(ids))
        db.session.commit()
        again = start(ids, "district.zip", zipped(DISTRICT))
        files = {file.name: file for file in sheets.files_choice(again)}
    assert files["memberships.csv"].role == "ignore" and files["memberships.csv"].role_remembered
    assert files["staff.csv"].columns.remembered
    assert files["staff.csv"].columns.mapping["role"] == "=teacher"


@pytest.mark.settings(ROSTER_DROP_SETTLE_SECONDS=0)
def test_sync_refuses_a_drop_of_several_files_without_remembered_roles(app, ids):
    with app.app_context():
        folder = sync.drop_dir() / str(ids["school"])
        folder.mkdir()
        (folder / "export.zip").write_bytes(zipped(DISTRICT))
        (outcome,) = sync.sync_drop_folders()
        run = db.session.get(ImportRun, outcome.run_id)
        messages = [p["message"] for p in run.row_errors]
    assert outcome.status == "failed"
    assert any(
        m.startswith("staff.csv: Keyslip does not know what this file holds") for m in messages
    )
    assert people(app) == {}


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["roster", "import", *args, "--as", "admin.e"])


def test_the_cli_imports_a_zip_of_five_files_given_the_staff_files_role(app, ids, tmp_path):
    path = tmp_path / "district.zip"
    path.write_bytes(zipped(DISTRICT))
    result = invoke(
        app, str(path), "--school", str(ids["school"]), "--file-role", "staff.csv=teachers"
    )
    assert result.exit_code == 0, result.output
    assert people(app)["T1"] == ("teacher", "Hopper")
    assert links(app) == {("P1", "S1"), ("P2", "S2")}
    assert enrollments(app) == {
        ("C1", "T1", "teacher"),
        ("C1", "S1", "student"),
        ("C1", "S2", "student"),
    }


def test_the_cli_asks_for_the_role_of_a_staff_file_and_imports_nobody(app, ids, tmp_path):
    path = tmp_path / "district.zip"
    path.write_bytes(zipped(DISTRICT))
    result = invoke(app, str(path), "--school", str(ids["school"]))
    assert result.exit_code == 1
    assert (
        "staff.csv: There is no role column, so say whether this file holds staff" in result.output
    )
    assert people(app) == {}


def test_the_cli_takes_a_mapping_per_file(app, ids, tmp_path):
    path = tmp_path / "familien.zip"
    german = b"Eltern-ID;Vorname;Nachname;Kind\nE1;Eva;Roth;S1\n"
    path.write_bytes(zipped({"students.csv": STUDENTS, "eltern.csv": german}))
    result = invoke(
        app, str(path), "--school", str(ids["school"]),
        "--file-role", "eltern.csv=parents",
        "--mapping", "eltern.csv:sourced_id=Eltern-ID,given_name=Vorname,family_name=Nachname,"
        "linked_student=Kind",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert people(app)["E1"] == ("parent", "Roth")
    assert links(app) == {("E1", "S1")}


def test_the_old_one_file_mapping_still_works(app, ids, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Nr;Vorname;Nachname\n7;Eva;Roth\n")
    result = invoke(
        app, str(path), "--school", str(ids["school"]),
        "--mapping", "sourced_id=Nr,given_name=Vorname,family_name=Nachname,role==student",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert people(app) == {"7": ("student", "Roth")}


def test_a_memberships_file_alone_places_people_in_classes_imported_earlier(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        chosen = offered(run, **{"staff.csv": "=teacher"})
        chosen["memberships.csv"] = ("ignore", {})
        sheets.save_file_mappings(run, chosen, actor=admin(ids))
        apply_plan(runs.build_plan(run, actor=admin(ids)), actor=admin(ids))
        db.session.commit()
        run = start(ids, "rosters.csv", b"Class ID,Person ID\nC1,S1\nC1,S8\nC7,S2\n")
        sheets.automatic_file_mappings(run, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
        apply_plan(plan, actor=admin(ids))
        db.session.commit()
    assert enrollments(app) == {("C1", "T1", "teacher"), ("C1", "S1", "student")}
    assert [(w.line, w.kind) for w in plan.warnings] == [
        (3, "dangling-enrollment"),
        (4, "dangling-enrollment"),
    ]


def test_a_complete_upload_without_a_classes_file_leaves_the_classes_alone(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        sheets.save_file_mappings(run, offered(run, **{"staff.csv": "=teacher"}), actor=admin(ids))
        apply_plan(runs.build_plan(run, actor=admin(ids)), actor=admin(ids))
        db.session.commit()
        request = runs.ImportRequest(school_id=ids["school"], complete=True)
        upload = zipped({"students.csv": STUDENTS, "rosters.csv": b"Class ID,Student ID\nC1,S1\n"})
        run = runs.start_import("again.zip", upload, request, actor=admin(ids))
        sheets.automatic_file_mappings(run, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids), confirm=True)
    counts = plan.counts()
    # The memberships file lists every class place; nothing lists the classes.
    assert counts["classes_removed"] == 0 and counts["enrollments_removed"] == 2


def test_the_cli_says_which_role_each_file_was_read_as(app, ids, tmp_path):
    path = tmp_path / "district.zip"
    path.write_bytes(zipped(DISTRICT))
    result = invoke(
        app,
        str(path),
        "--school",
        str(ids["school"]),
        "--file-role",
        "staff.csv=staff",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert (
        "Files: students.csv (students), parents.csv (parents), staff.csv (staff), "
        "classes.csv (classes), memberships.csv (memberships)." in result.output
    )


def test_the_cli_takes_a_mapping_file_with_one_object_per_file(app, ids, tmp_path):
    path = tmp_path / "familien.zip"
    german = b"Eltern-ID;Vorname;Nachname;Kind\nE1;Eva;Roth;S1\n"
    path.write_bytes(zipped({"students.csv": STUDENTS, "eltern.csv": german}))
    columns = tmp_path / "columns.json"
    columns.write_text(
        '{"eltern.csv": {"sourced_id": "Eltern-ID", "given_name": "Vorname", '
        '"family_name": "Nachname", "linked_student": "Kind"}}'
    )
    result = invoke(
        app, str(path), "--school", str(ids["school"]), "--file-role", "eltern.csv=parents",
        "--mapping-file", str(columns),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert links(app) == {("E1", "S1")}


def test_a_parents_file_naming_its_school_links_to_that_schools_sis_students(app, ids):
    with app.app_context():
        school = db.session.get(School, ids["school"])
        make_user(Role.STUDENT, school=school, source="sis", sourced_id="S1", family_name="Lee")
        db.session.commit()
        data = b"Parent ID,First Name,Last Name,Child ID,School\nP1,Mary,Lee,S1,Eiche\n"
        request = runs.ImportRequest()  # no school picked: the file names it
        run = runs.start_import("parents.csv", data, request, actor=admin(ids))
        sheets.automatic_file_mappings(run, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
        assert plan.errors == []
        apply_plan(plan, actor=admin(ids))
        db.session.commit()
    assert links(app) == {("P1", "S1")}


@pytest.mark.settings(ROSTER_DROP_SETTLE_SECONDS=0)
def test_sync_imports_a_drop_of_several_files_with_the_remembered_roles_and_columns(app, ids):
    with app.app_context():
        run = start(ids, "district.zip", zipped(DISTRICT))
        sheets.save_file_mappings(run, offered(run, **{"staff.csv": "=teacher"}), actor=admin(ids))
        db.session.commit()
        folder = sync.drop_dir() / str(ids["school"])
        folder.mkdir()
        (folder / "export.zip").write_bytes(zipped(DISTRICT))
        (outcome,) = sync.sync_drop_folders()
    assert outcome.status == "applied"
    assert people(app)["T1"] == ("teacher", "Hopper")
    assert links(app) == {("P1", "S1"), ("P2", "S2")}
