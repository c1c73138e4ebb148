"""The spreadsheet reader on the reader core: the chosen columns, person()'s rules."""

from __future__ import annotations

from webapp.roster import Roster, read_roster


def sheet(text: str, mapping: dict[str, str]) -> Roster:
    return read_roster({"people.csv": text.encode()}, format="csv", mapping=mapping)


def test_the_chosen_column_is_read_when_another_is_named_like_the_field() -> None:
    roster = sheet(
        "ID,First,Last,Email,Work email\n1,Ann,Lee,home@example.org,work@example.org\n",
        {
            "sourced_id": "ID",
            "given_name": "First",
            "family_name": "Last",
            "email": "Work email",
            "role": "=teacher",
        },
    )

    assert [p.email for p in roster.people] == ["work@example.org"]
    assert not [p for p in roster.problems if "repeats column" in p.message]


def test_only_students_keep_a_student_number_as_in_every_format() -> None:
    roster = sheet(
        "ID,First,Last,Role,Number\n1,Ann,Lee,student,N1\n2,Tia,Moss,teacher,N2\n",
        {
            "sourced_id": "ID",
            "given_name": "First",
            "family_name": "Last",
            "role": "Role",
            "student_number": "Number",
        },
    )

    assert {p.sourced_id: p.student_number for p in roster.people} == {"1": "N1", "2": None}


def test_a_full_names_parts_are_checked_as_every_formats_names_are() -> None:
    roster = sheet(
        "ID,Name\n1,Ann Lee#\n",
        {"sourced_id": "ID", "name": "Name", "role": "=student"},
    )

    odd = [p for p in roster.warnings if "unusual in a name" in p.message]
    assert [(p.line, p.column, p.message.split(" has ")[0]) for p in odd] == [(2, "Name", "'Lee#'")]
    assert [(p.given_name, p.family_name) for p in roster.people] == [("Ann", "Lee#")]


def test_an_empty_mapping_value_chooses_no_column() -> None:
    roster = sheet(
        "ID,First,Last,email\n1,Ann,Lee,ann@example.org\n",
        {
            "sourced_id": "ID",
            "given_name": "First",
            "family_name": "Last",
            "email": "",
            "role": "=student",
        },
    )

    assert not roster.errors
    assert [p.email for p in roster.people] == [None]
