"""The declarative reader core: files and columns declared once, rows read by one builder."""

from __future__ import annotations

import pytest

from webapp.roster import read_roster
from webapp.roster.context import FileSet, ReadContext
from webapp.roster.core import Col, FileSpec, cols, open_sheet, person

PEOPLE = FileSpec(
    "people.csv",
    (
        *cols(
            ("sid", "Id", "raw", "Person ID"),
            ("given", "First", "raw"),
            ("family", "Last", "raw"),
            ("preferred_given", "Preferred", "raw"),
            ("email", "Email", "email"),
            ("grade", "Grade", "grade", "Year"),
            ("note", "Note", "skip"),
        ),
        Col("active", "Active", clean="flag", default=True),
    ),
    required=("sid", "given", "family"),
    missing="An upload needs {name}.",
)


def sheet_of(text: str, spec: FileSpec = PEOPLE):
    ctx = ReadContext()
    return ctx, open_sheet(FileSet({"people.csv": text.encode()}), ctx, spec)


def test_columns_match_by_alias_and_values_are_cleaned_by_their_declared_check() -> None:
    ctx, sheet = sheet_of("Person ID,First,Last,Email,Year,Active\np1,Ann,Lee,ANN@X.ORG,3,no\n")

    row = next(sheet.rows())

    assert (row.raw("sid"), row["email"], row["grade"], row["active"]) == (
        "p1",
        "ANN@x.org",
        "03",
        False,
    )
    assert row.raw("preferred_given") == ""
    assert ctx.log.finish() == []


def test_a_check_reports_the_file_line_and_the_column_as_the_file_spells_it() -> None:
    ctx, sheet = sheet_of("Id,First,Last,Email,Year,Active\np1,Ann,Lee,nope,3,maybe\n")

    row = next(sheet.rows())
    assert row["email"] is None
    assert row["active"] is True

    problems = [(p.file, p.line, p.column, p.kind) for p in ctx.log.finish()]
    assert problems == [
        ("people.csv", 2, "Email", "bad-email"),
        ("people.csv", 2, "Active", "bad-bool"),
    ]


def test_a_missing_required_column_reads_nothing_and_says_which() -> None:
    ctx, sheet = sheet_of("Id,First\np1,Ann\n")

    assert sheet is None
    [problem] = ctx.log.finish()
    assert problem.severity == "error"
    assert "'Last'" in problem.message


def test_a_missing_file_gets_the_message_its_spec_declares() -> None:
    ctx = ReadContext()

    assert open_sheet(FileSet({"other.csv": b"a\n1\n"}), ctx, PEOPLE) is None
    [problem] = ctx.log.finish()
    assert (problem.file, problem.message) == ("people.csv", "An upload needs people.csv.")


def test_a_skipped_column_is_known_but_not_read() -> None:
    ctx, sheet = sheet_of("Id,First,Last,Note\np1,Ann,Lee,hello\n")

    row = next(sheet.rows())

    assert row.raw("note") == ""
    assert ctx.log.notes == []  # not listed among the unknown columns


def test_person_uses_the_preferred_name_and_names_its_column_in_a_warning() -> None:
    ctx, sheet = sheet_of("Id,First,Last,Preferred,Grade\np1,Ann,Lee,<Annie>,KG\n")

    record = person(next(sheet.rows()), "p1", "student", schools=("s1",))

    assert (record.given_name, record.family_name, record.grade, record.school_ids) == (
        "<Annie>",
        "Lee",
        "KG",
        ("s1",),
    )
    [problem] = ctx.log.finish()
    assert (problem.line, problem.column, problem.kind) == (2, "Preferred", "odd-name")


def test_person_without_a_family_name_is_an_error_on_its_row() -> None:
    ctx, sheet = sheet_of("Id,First,Last\np1,Ann,\n")

    assert person(next(sheet.rows()), "p1", "teacher") is None
    [problem] = ctx.log.finish()
    assert (problem.severity, problem.line, problem.column, problem.kind) == (
        "error",
        2,
        "Last",
        "no-name",
    )


def test_tuples_read_absent_fields_as_empty_and_rows_still_report_by_field() -> None:
    ctx, sheet = sheet_of("Id,First,Last,Active\np1,Ann,Lee,maybe\np2,Bo,Ray,yes\n")

    seen = []
    for row, (sid, email, active) in sheet.tuples("sid", "email", "active"):
        seen.append((sid, email, active, row["active"]))

    assert seen == [("p1", "", "maybe", True), ("p2", "", "yes", True)]
    [problem] = ctx.log.finish()
    assert (problem.line, problem.column, problem.kind) == (2, "Active", "bad-bool")


ODD_NAME = {
    "oneroster-1.1": {
        "manifest.csv": "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n",
        "users.csv": "sourcedId,role,givenName,familyName\nu1,student,An<n,Lee\n",
    },
    "clever": {
        "students.csv": "School_id,Student_id,First_name,Last_name\nS1,u1,An<n,Lee\n",
        "teachers.csv": "School_id,Teacher_id,First_name,Last_name\nS1,t1,Tia,Moss\n",
    },
    "sds-2.1": {
        "orgs.csv": "sourcedId,name,type\nS1,North,school\n",
        "roles.csv": "userSourcedId,orgSourcedId,role\nu1,S1,student\n",
        "users.csv": "sourcedId,givenName,familyName\nu1,An<n,Lee\n",
    },
    "sds-uk": {
        "Student.csv": "ID,First Name,Last Name\nu1,An<n,Lee\n",
        "Teacher.csv": "ID,First Name,Last Name\nt1,Tia,Moss\n",
    },
}


@pytest.mark.parametrize("fmt", sorted(ODD_NAME))
def test_every_format_checks_names_with_the_same_rule(fmt: str) -> None:
    files = {name: text.encode() for name, text in ODD_NAME[fmt].items()}

    roster = read_roster(files, format=fmt)

    odd = [p for p in roster.problems if p.kind == "odd-name"]
    assert [(p.line, p.severity) for p in odd] == [(2, "warning")]
    assert "'<'" in odd[0].message
    assert [p.given_name for p in roster.people if p.sourced_id == "u1"] == ["An<n"]
