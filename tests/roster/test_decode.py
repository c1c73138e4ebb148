"""Bytes to rows: encodings, delimiters, line endings, malformed CSV and non-CSV content."""

from __future__ import annotations

import io
import zipfile

from webapp.roster import Roster, read_roster
from webapp.roster.decode import read_table, sniff_delimiter
from webapp.roster.problems import ProblemLog

HEADER = "ID,First Name,Last Name,Email\r\n"


def people(text: str | bytes, name: str = "students.csv") -> Roster:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return read_roster({name: data}, format="csv")


def row_problems(roster: Roster) -> list[str]:
    """Return the problem messages."""
    return [p.message for p in roster.problems]


def names(roster: Roster) -> list[tuple[str, str]]:
    return [(p.given_name, p.family_name) for p in roster.people]


def found(roster: Roster, text: str) -> list[tuple[str, int | None]]:
    return [(p.severity, p.line) for p in roster.problems if text in p.message]


def test_utf8_bom_does_not_hide_the_first_header() -> None:
    roster = people(b"\xef\xbb\xbf" + (HEADER + "1,Ann,Lee,\r\n").encode())

    assert names(roster) == [("Ann", "Lee")]
    assert row_problems(roster) == []
    assert roster.encoding_used == {"students.csv": "utf-8"}


def test_utf8_names_outside_cp1252_survive() -> None:
    roster = people(HEADER + "1,Łukasz,Żółć,\r\n")

    assert names(roster) == [("Łukasz", "Żółć")]
    assert row_problems(roster) == []


def test_cp1252_file_is_read_with_a_warning() -> None:
    data = (HEADER + "1,Zoë,Núñez,\r\n2,Ann,Lee,\r\n").encode("cp1252")
    roster = people(data)

    assert names(roster) == [("Zoë", "Núñez"), ("Ann", "Lee")]
    assert roster.encoding_used == {"students.csv": "windows-1252"}
    assert found(roster, "not UTF-8") == [("warning", 2)]


def test_mixed_utf8_and_cp1252_lines_are_decoded_line_by_line() -> None:
    data = HEADER.encode() + "1,Zoë,Núñez,\r\n".encode() + "2,José,Peña,\r\n".encode("cp1252")
    roster = people(data)

    assert names(roster) == [("Zoë", "Núñez"), ("José", "Peña")]
    assert found(roster, "not UTF-8 while the rest") == [("warning", 3)]


def test_utf16_with_bom_is_read() -> None:
    data = ("ID\tFirst Name\tLast Name\r\n1\tZoë\tNúñez\r\n").encode("utf-16")
    roster = people(data)

    assert names(roster) == [("Zoë", "Núñez")]


def test_semicolon_delimiter_with_commas_in_values() -> None:
    roster = people("ID;First Name;Last Name\n1;Ann, Jr;Lee\n")

    assert names(roster) == [("Ann, Jr", "Lee")]


def test_tab_delimiter() -> None:
    roster = people("ID\tFirst Name\tLast Name\n1\tAnn\tLee\n")

    assert names(roster) == [("Ann", "Lee")]


def test_delimiter_is_sniffed_outside_quotes() -> None:
    assert sniff_delimiter('"a;b;c;d",x,y\n') == ","
    assert sniff_delimiter('"a,b,c,d";x;y\n') == ";"


def test_excel_sep_line_sets_the_delimiter() -> None:
    roster = people("sep=;\nID;First Name;Last Name\n1;Ann;Lee\n3;Bo\n")

    assert names(roster) == [("Ann", "Lee")]
    assert found(roster, "missing values at the end") == [("warning", 4)]


def test_bare_cr_line_endings() -> None:
    roster = people("ID,First Name,Last Name\r1,Ann,Lee\r2,Bo,Ray\r")

    assert names(roster) == [("Ann", "Lee"), ("Bo", "Ray")]


def test_quoted_newline_keeps_later_line_numbers_right() -> None:
    text = 'ID,First Name,Last Name,Email\n1,"Ann\nMarie",Lee,\n2,Bo,Ray,not-an-email\n'
    roster = people(text)

    # Newlines inside a name become a space.
    assert names(roster) == [("Ann Marie", "Lee"), ("Bo", "Ray")]
    assert [p.line for p in roster.people] == [2, 4]
    assert found(roster, "not a valid email") == [("warning", 4)]


def test_quoted_commas_and_doubled_quotes() -> None:
    roster = people('ID,First Name,Last Name\n1,"Ann ""Annie""","Lee, Jr"\n')

    assert names(roster) == [('Ann "Annie"', "Lee, Jr")]


def test_empty_file_is_a_file_error() -> None:
    roster = people(b"")

    assert roster.people == []
    assert found(roster, "file is empty") == [("error", None)]


def test_header_only_file_is_an_error_with_zero_records() -> None:
    roster = people(HEADER)

    assert roster.people == []
    assert found(roster, "header row but no people") == [("error", None)]


def test_nul_byte_row_is_skipped_with_its_line() -> None:
    roster = people(HEADER + "1,Ann,Lee,\r\n2,B\x00o,Ray,\r\n3,Cy,Moe,\r\n")

    assert names(roster) == [("Ann", "Lee"), ("Cy", "Moe")]
    assert found(roster, "NUL byte") == [("error", 3)]


def test_one_megabyte_field_is_a_row_error_not_a_crash() -> None:
    huge = "x" * (1024 * 1024)
    roster = people(f"{HEADER}1,Ann,Lee,\r\n2,{huge},Ray,\r\n3,Cy,Moe,\r\n")

    assert names(roster) == [("Ann", "Lee"), ("Cy", "Moe")]
    assert found(roster, "longer than 64 KiB") == [("error", 3)]


def test_ragged_rows() -> None:
    text = HEADER + "1,Ann,Lee,,\r\n2,Bo,Ray,x@example.org,extra\r\n3,Cy\r\n4,Di,Fox,\r\n"
    roster = people(text)

    # Trailing empty cells are harmless; a non-empty extra cell is not.
    assert names(roster) == [("Ann", "Lee"), ("Di", "Fox")]
    assert found(roster, "has 5 values but the header has 4") == [("error", 3)]
    assert found(roster, "has 2 values but the header has 4") == [("warning", 4)]
    assert found(roster, "name is missing") == [("error", 4)]


def test_unbalanced_quote_is_reported_at_its_line() -> None:
    roster = people('ID,First Name,Last Name\n1,Ann,Lee\n2,"Bo,Ray\n3,Cy,Moe\n')

    assert names(roster) == [("Ann", "Lee")]
    [problem] = [p for p in roster.problems if "quote" in p.message]
    assert (problem.severity, problem.line) == ("error", 3)
    assert "missing its partner" in problem.message


def test_xlsx_renamed_csv_is_rejected_by_content() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    roster = people(buffer.getvalue(), name="students.csv")

    assert roster.people == []
    [problem] = roster.errors
    assert "not a CSV file" in problem.message and "xlsx" in problem.message


def test_binary_upload_is_rejected() -> None:
    roster = people(bytes(range(256)) * 8)

    assert roster.people == []
    assert any("binary file" in p.message for p in roster.errors)


def test_table_reports_physical_lines_for_crlf_inside_quotes() -> None:
    log = ProblemLog()
    table = read_table("t.csv", b'a,b\r\n"x\r\ny\r\nz",1\r\n\r\nq,2\r\n', log)

    assert table is not None
    assert [(line, cells) for line, cells in table.rows()] == [
        (2, ["x\r\ny\r\nz", "1"]),
        (6, ["q", "2"]),
    ]
