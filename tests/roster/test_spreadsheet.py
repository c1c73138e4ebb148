"""Spreadsheet CSVs: guessed and given column mappings, links files, re-imported exports."""

from __future__ import annotations

import csv
import io

from webapp.roster import Roster, guess_mapping, read_roster


def sheet(text: str, **kwargs) -> Roster:
    return read_roster({"people.csv": text.encode()}, format="csv", **kwargs)


def test_guess_mapping_common_headers() -> None:
    headers = ["Student ID", "Forename", "Surname", "E-mail", "Mobile", "Year", "UPN", "Type"]

    assert guess_mapping(headers) == {
        "sourced_id": "Student ID",
        "given_name": "Forename",
        "family_name": "Surname",
        "email": "E-mail",
        "phone": "Mobile",
        "grade": "Year",
        "student_number": "UPN",
        "role": "Type",
    }


def test_guess_mapping_parent_rows_with_a_child_column() -> None:
    mapping = guess_mapping(["Parent ID", "First Name", "Last Name", "Email", "Student ID"])

    assert mapping["sourced_id"] == "Parent ID"
    assert mapping["linked_student"] == "Student ID"


def test_keyslip_export_round_trips() -> None:
    exported = io.StringIO()
    writer = csv.writer(exported)
    writer.writerow(
        [
            "username",
            "given_name",
            "family_name",
            "role",
            "grade",
            "school",
            "email",
            "phone",
            "password",
        ]
    )
    writer.writerow(
        ["zoe.nunez", "Zoë", "Núñez", "student", "KG", "maple", "", "", "tiger-moon-42"]
    )
    writer.writerow(
        ["ann.lee", "Ann", "Lee", "parent", "", "maple", "ann@example.org", "+16175550123", ""]
    )
    roster = sheet(exported.getvalue())

    zoe, ann = roster.people
    assert (zoe.sourced_id, zoe.username, zoe.role, zoe.grade, zoe.password) == (
        "zoe.nunez",
        "zoe.nunez",
        "student",
        "KG",
        "tiger-moon-42",
    )
    assert (ann.email, ann.phone, ann.school_ids) == ("ann@example.org", "+16175550123", ("maple",))
    assert [s.sourced_id for s in roster.schools] == ["maple"]
    assert roster.errors == []
    assert roster.complete is False
    assert any("matched by username" in note for note in roster.notes)


def test_explicit_mapping_and_constant_role() -> None:
    text = "Ref;Vorname;Nachname;Geburtsdatum\n7;Jörg;Müller;31.12.2012\n"
    mapping = {
        "sourced_id": "Ref",
        "given_name": "Vorname",
        "family_name": "Nachname",
        "role": "=teacher",
    }
    roster = sheet(text, mapping=mapping)

    [person] = roster.people
    assert (person.sourced_id, person.given_name, person.role) == ("7", "Jörg", "teacher")
    assert any("Geburtsdatum" in note for note in roster.notes)


def test_mapping_to_a_missing_header_is_an_error() -> None:
    roster = sheet(
        "ID,First,Last\n1,Ann,Lee\n", mapping={"given_name": "Vorname", "family_name": "Last"}
    )

    assert roster.people == []
    assert "'Vorname'" in roster.errors[0].message


def test_no_header_row_is_explained() -> None:
    roster = sheet("1001;Ann;Lee;ann@example.org\n1002;Bo;Ray;bo@example.org\n")

    assert roster.people == []
    assert "looks like data" in roster.errors[0].message


def test_full_name_column_is_split() -> None:
    roster = sheet('ID,Name,Role\n1,"Lee, Ann Marie",student\n2,Bo van Ray,teacher\n')

    assert [(p.given_name, p.family_name) for p in roster.people] == [
        ("Ann Marie", "Lee"),
        ("Bo van", "Ray"),
    ]


def test_parent_rows_one_per_child_make_one_parent_and_links() -> None:
    text = (
        "Parent ID,First Name,Last Name,Email,Student ID,Role\n"
        "s1,Ann,Lee,,,student\n"
        "s2,Bo,Lee,,,student\n"
        "p1,Mia,Lee,mia@example.org,s1,parent\n"
        "p1,Mia,Lee,mia@example.org,s2,parent\n"
    )
    roster = sheet(text)

    assert roster.role_counts() == {"student": 2, "parent": 1}
    assert sorted((g.parent_id, g.student_id) for g in roster.guardians) == [
        ("p1", "s1"),
        ("p1", "s2"),
    ]
    assert roster.errors == []


def test_separate_links_file_matches_by_id_or_email() -> None:
    people = (
        "ID,First Name,Last Name,Email,Role\n"
        "s1,Ann,Lee,,student\n"
        "p1,Mia,Lee,Mia@Example.org,parent\n"
    )
    links = "Parent,Student\nmia@example.org,s1\nnobody,s1\ns1,p1\n"
    roster = read_roster({"people.csv": people.encode(), "links.csv": links.encode()}, format="csv")

    assert [(g.parent_id, g.student_id) for g in roster.guardians] == [("p1", "s1")]
    assert sorted((p.file, p.line) for p in roster.warnings) == [("links.csv", 3), ("links.csv", 4)]


def test_complete_override_and_unknown_role() -> None:
    roster = sheet(
        "ID,First Name,Last Name,Role\n1,Ann,Lee,Wizard\n2,Bo,Ray,Pupil\n", complete=True
    )

    assert roster.complete is True
    # No classes or memberships file: a complete upload leaves classes alone.
    assert roster.modes == {"users": "bulk", "classes": "absent", "enrollments": "absent"}
    assert [(p.sourced_id, p.role) for p in roster.people] == [("2", "student")]
    assert [(e.line, e.column) for e in roster.errors] == [(2, "Role")]
    # complete only counts once the errors are fixed.
    assert roster.has_errors


def test_a_leading_apostrophe_is_data_outside_keyslip_exports() -> None:
    from webapp.roster import read_roster

    data = b"ID,First Name,Last Name,Role\n1,'=Ann,O'Neil,student\n"
    roster = read_roster({"people.csv": data}, format="csv")
    assert [p.given_name for p in roster.people] == ["'=Ann"]


def test_the_export_signature_matches_the_export_columns() -> None:
    from webapp.csv_safe import EXPORT_SIGNATURE
    from webapp.services.exports import COLUMNS

    assert EXPORT_SIGNATURE <= set(COLUMNS)
