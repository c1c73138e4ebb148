"""Spreadsheet headers as schools write them: encodings, no header row, other languages."""

from __future__ import annotations

import pytest

from webapp.roster import guess_mapping, read_headers, read_roster
from webapp.roster.columns import norm_header
from webapp.roster.detect import peek_files
from webapp.roster.sheet_columns import unmapped_meaningful

LATIN1 = "Schüler-ID;Vorname;Nachname;Klasse\n1;Jürgen;Müller;5\n2;Zoë;Groß;6\n".encode("latin-1")
HEADERLESS = b"1;Anna;Schmidt;5\n2;Ben;Meyer;6\n3;Clara;Wolf;7\n"


def test_a_latin1_header_is_decoded_as_the_rows_are() -> None:
    headers = read_headers({"schueler.csv": LATIN1})["schueler.csv"]

    assert headers == ["Schüler-ID", "Vorname", "Nachname", "Klasse"]


def test_a_latin1_header_maps_and_imports_with_the_names_right() -> None:
    headers = read_headers({"schueler.csv": LATIN1})["schueler.csv"]
    mapping = guess_mapping(headers)

    roster = read_roster({"schueler.csv": LATIN1}, format="csv", mapping=mapping)

    assert mapping["sourced_id"] == "Schüler-ID"
    assert [p.family_name for p in roster.people] == ["Müller", "Groß"]
    assert [p.given_name for p in roster.people] == ["Jürgen", "Zoë"]


def test_a_headerless_file_names_its_columns_by_position_with_samples() -> None:
    columns, rows = peek_files({"k.csv": HEADERLESS}, has_header=False, samples=2)["k.csv"]

    assert columns == ["Column 1", "Column 2", "Column 3", "Column 4"]
    assert rows == [["1", "Anna", "Schmidt", "5"], ["2", "Ben", "Meyer", "6"]]


def test_a_headerless_file_imports_every_row_by_position() -> None:
    mapping = {
        "sourced_id": "Column 1",
        "given_name": "Column 2",
        "family_name": "Column 3",
        "grade": "Column 4",
        "role": "=student",
    }

    roster = read_roster({"k.csv": HEADERLESS}, format="csv", mapping=mapping, has_header=False)

    assert [p.sourced_id for p in roster.people] == ["1", "2", "3"]
    assert [p.line for p in roster.people] == [1, 2, 3]
    assert not [p for p in roster.problems if p.severity == "error"]


def test_a_headerless_row_wider_than_the_first_is_an_error_not_a_loss() -> None:
    data = b"1;Anna;Schmidt\n2;Ben;Meyer;extra\n"
    mapping = {
        "sourced_id": "Column 1",
        "given_name": "Column 2",
        "family_name": "Column 3",
        "role": "=student",
    }

    roster = read_roster({"k.csv": data}, format="csv", mapping=mapping, has_header=False)

    errors = [p for p in roster.problems if p.severity == "error"]
    assert [(e.line, "first row has 3" in e.message) for e in errors] == [(2, True)]


def test_only_spreadsheets_may_lack_a_header_row() -> None:
    clever = b"School_id,Student_id,First_name,Last_name\n1,2,A,B\n"

    roster = read_roster({"students.csv": clever}, format="clever", has_header=False)

    assert any("Only spreadsheets" in p.message for p in roster.problems)
    assert not roster.people


def test_a_first_row_that_looks_like_data_is_pointed_out() -> None:
    data = b"1001;anna@example.org;Anna;Schmidt\n1002;ben@example.org;Ben;Meyer\n"
    mapping = {"sourced_id": "1001", "given_name": "Anna", "family_name": "Schmidt"}

    roster = read_roster({"k.csv": data}, format="csv", mapping=mapping)

    warning = next(p for p in roster.problems if "looks like data" in p.message)
    assert (warning.severity, warning.line) == ("warning", 1)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["Schüler-ID", "Vorname", "Nachname", "Klasse", "E-Mail", "Benutzername"],
            ["sourced_id", "given_name", "family_name", "grade", "email", "username"],
        ),
        (
            ["Identifiant", "Prénom", "Nom", "Classe", "Courriel"],
            ["sourced_id", "given_name", "family_name", "grade", "email"],
        ),
        (
            ["ID alumno", "Nombre", "Apellidos", "Curso", "Correo electrónico"],
            ["sourced_id", "given_name", "family_name", "grade", "email"],
        ),
        (
            ["Leerlingnummer", "Voornaam", "Achternaam", "Klas", "Gebruikersnaam"],
            ["student_number", "given_name", "family_name", "grade", "username"],
        ),
        (
            ["Student ID", "First Name", "Last Name", "Grade", "Email"],
            ["sourced_id", "given_name", "family_name", "grade", "email"],
        ),
    ],
    ids=["de", "fr", "es", "nl", "en"],
)
def test_headers_in_each_language_map_to_the_same_fields(headers, expected) -> None:
    mapping = guess_mapping(headers)

    assert {mapping[field]: field for field in expected} == dict(
        zip(headers, expected, strict=True)
    )


def test_headers_match_after_folding_case_accents_and_punctuation() -> None:
    assert norm_header("PRENOM") == norm_header("Prénom")
    assert norm_header("e_mail ") == norm_header("E-Mail")
    assert norm_header("Correo Electronico") == norm_header("Correo electrónico")
    assert guess_mapping(["schueler id", "VORNAME", "nach-name"]) == {
        "sourced_id": "schueler id",
        "given_name": "VORNAME",
        "family_name": "nach-name",
    }


def test_a_surname_called_name_beside_a_first_name_is_the_family_name() -> None:
    assert guess_mapping(["ID", "Vorname", "Name"]) == {
        "sourced_id": "ID",
        "given_name": "Vorname",
        "family_name": "Name",
    }


def test_unmapped_columns_that_matter_are_pointed_out() -> None:
    headers = ["ID", "First Name", "Last Name", "Status", "Email", "Geburtsdatum", "Notes"]
    mapping = {"sourced_id": "ID", "given_name": "First Name", "family_name": "Last Name"}

    assert unmapped_meaningful(headers, mapping) == [("Status", "status"), ("Email", "email")]
