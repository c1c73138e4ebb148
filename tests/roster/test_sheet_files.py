"""Reading spreadsheet uploads of several files: file roles, children, classes, memberships."""

from __future__ import annotations

import pytest

from webapp.roster import read_roster
from webapp.roster.sheet_files import guess_file_role


def files(**spec: tuple[str, dict[str, str]]) -> dict[str, dict]:
    return {
        "files": {
            name.replace("_", "."): {"role": r, "columns": c} for name, (r, c) in spec.items()
        }
    }


@pytest.mark.parametrize(
    ("name", "headers", "role"),
    [
        ("Schueler.csv", ["ID", "Vorname", "Nachname"], "students"),
        ("guardians.csv", ["ID", "First Name", "Last Name", "Child ID"], "parents"),
        ("parents.csv", ["Parent ID", "First Name", "Last Name", "Relationship"], "parents"),
        ("teachers.csv", ["ID", "First Name", "Last Name"], "staff"),
        ("staff.csv", ["ID", "First Name", "Last Name", "Role"], "staff"),
        ("export.csv", ["ID", "First Name", "Last Name", "Role"], "people"),
        ("sections.csv", ["Section ID", "Name", "Teacher ID"], "classes"),
        ("class_memberships.csv", ["Class ID", "Person ID"], "memberships"),
        ("rosters.csv", ["Section ID", "Student ID"], "memberships"),
        ("export.csv", ["ID", "First Name", "Last Name"], None),
    ],
)
def test_a_files_role_is_guessed_from_its_name_and_columns(name, headers, role):
    assert guess_file_role(name, headers) == role


def test_a_parent_row_may_name_several_children_in_a_cell_or_in_columns():
    students = b"ID,First Name,Last Name\nS1,Ada,Lee\nS2,Bo,Lee\nS3,Cy,Lee\n"
    parents = b"Parent ID,First Name,Last Name,Child ID,Child 2 ID\nP1,Mia,Lee,S1;S2,S3\n"
    roster = read_roster({"students.csv": students, "parents.csv": parents}, format="csv")

    assert sorted((g.parent_id, g.student_id) for g in roster.guardians) == [
        ("P1", "S1"),
        ("P1", "S2"),
        ("P1", "S3"),
    ]
    assert [p.role for p in roster.people if p.sourced_id == "P1"] == ["parent"]


def test_a_classes_file_makes_classes_and_its_teachers_enrollments():
    staff = b"ID,First Name,Last Name,Role\nT1,Grace,Hopper,teacher\nT2,Alan,Kay,teacher\n"
    classes = b'Class ID,Title,Code,Teacher ID\nC1,Maths,M1,"T1, T2"\nC2,Art,,T1\n'
    roster = read_roster({"staff.csv": staff, "classes.csv": classes}, format="csv")

    assert [(c.sourced_id, c.title, c.class_code) for c in roster.classes] == [
        ("C1", "Maths", "M1"),
        ("C2", "Art", None),
    ]
    assert [(e.class_id, e.user_id, e.role, e.primary) for e in roster.enrollments] == [
        ("C1", "T1", "teacher", True),
        ("C1", "T2", "teacher", False),
        ("C2", "T1", "teacher", True),
    ]


def test_a_membership_of_a_class_not_in_the_classes_file_is_warned_with_its_line():
    students = b"ID,First Name,Last Name\nS1,Ada,Lee\n"
    classes = b"Class ID,Title\nC1,Maths\n"
    members = b"Class ID,Person ID\nC1,S1\nC9,S1\nC1,S7\n"
    roster = read_roster(
        {"students.csv": students, "classes.csv": classes, "members.csv": members}, format="csv"
    )

    # S7 may be someone imported earlier: the planner looks them up.
    assert [(e.class_id, e.user_id) for e in roster.enrollments] == [("C1", "S1"), ("C1", "S7")]
    assert [(w.file, w.line, w.kind) for w in roster.warnings] == [
        ("members.csv", 3, "dangling-class")
    ]


def test_a_complete_spreadsheet_speaks_for_classes_only_with_a_file_of_them():
    students = b"ID,First Name,Last Name\nS1,Ada,Lee\n"
    classes = b"Class ID,Title\nC1,Maths\n"
    alone = read_roster({"students.csv": students}, format="csv", complete=True)
    with_classes = read_roster(
        {"students.csv": students, "classes.csv": classes}, format="csv", complete=True
    )

    assert alone.modes == {"users": "bulk", "classes": "absent", "enrollments": "absent"}
    assert with_classes.modes == {"users": "bulk", "classes": "bulk", "enrollments": "absent"}


def test_a_file_whose_role_is_not_said_is_an_error_naming_it():
    roster = read_roster(
        {"a.csv": b"ID,First Name,Last Name\n1,Ada,Lee\n", "b.csv": b"X,Y\n1,2\n"}, format="csv"
    )

    assert {(e.file, e.kind) for e in roster.errors} == {
        ("a.csv", "file-role"),
        ("b.csv", "file-role"),
    }
    assert roster.people == []


def test_chosen_roles_and_columns_are_read_per_file():
    data = b"Nr;Vorname;Nachname;Kind\n1;Eva;Roth;7\n"
    pupils = b"Nr;Vorname;Nachname\n7;Jan;Roth\n"
    mapping = files(
        eltern_csv=("parents", {"sourced_id": "Nr", "given_name": "Vorname",
                                "family_name": "Nachname", "linked_student": "Kind"}),
        kinder_csv=("students", {"sourced_id": "Nr", "given_name": "Vorname",
                                 "family_name": "Nachname"}),
    )  # fmt: skip
    roster = read_roster({"eltern.csv": data, "kinder.csv": pupils}, format="csv", mapping=mapping)

    assert roster.errors == []
    assert sorted((p.file, p.sourced_id, p.role) for p in roster.people) == [
        ("eltern.csv", "1", "parent"),
        ("kinder.csv", "7", "student"),
    ]
    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [("1", "7")]


def test_a_student_row_in_a_parents_file_is_refused_not_made_a_parent():
    parents = (
        b"Parent ID,First Name,Last Name,Relationship,Child ID\n"
        b"P1,Mia,Lee,Mother,S1\n"
        b"S9,Kid,Lee,student,\n"
    )
    roster = read_roster({"parents.csv": parents}, format="csv")

    assert [(p.sourced_id, p.role) for p in roster.people] == [("P1", "parent")]
    assert [(e.line, e.kind) for e in roster.errors] == [(3, "bad-role")]
