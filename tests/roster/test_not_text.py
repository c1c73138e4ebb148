"""What cannot be a CSV roster, told apart from real text exports in any encoding."""

from __future__ import annotations

import random

from webapp.roster import read_roster, read_upload
from webapp.roster.decode import binary_at, not_text

HEADER = "ID\tFirst Name\tLast Name\r\n1\tZoë\tNúñez\r\n"


def test_text_in_the_encodings_schools_export_is_text() -> None:
    for data in (
        "ID;Vorname;Nachname\r\n1;Jürgen;Müller\r\n".encode("latin-1"),
        "ID,First,Last\r\n1,“Zoë”,Núñez – Jr\r\n".encode("cp1252"),
        HEADER.encode("utf-16"),
        HEADER.encode("utf-16-le"),
        HEADER.encode("utf-16-be"),
        "ID,Name\r\n1,Łukasz Żółć\r\n".encode(),
        # A vertical tab is some tools' line break inside a cell; Ctrl-Z an old file end.
        b"ID,Name,Note\r\n1,Ann,a\x0bb\r\n\x1a",
    ):
        assert binary_at(data) is None, data
        assert not_text(data) is None, data


def test_binary_is_found_at_its_first_binary_byte() -> None:
    assert binary_at(b"ID,Name\r\n\x00\x01\x02\x03" * 10) == 9
    noise = random.Random(3).randbytes(2048)
    assert binary_at(noise) is not None


def test_high_bytes_that_make_no_text_are_binary() -> None:
    data = bytes(range(128, 256)) * 16

    assert binary_at(data) == 0


def test_utf16_without_a_byte_order_mark_is_read() -> None:
    roster = read_roster({"students.csv": HEADER.encode("utf-16-le")}, format="csv")

    assert [(p.given_name, p.family_name) for p in roster.people] == [("Zoë", "Núñez")]
    assert roster.encoding_used == {"students.csv": "utf-16-le"}


def test_refusals_reach_the_preview_of_an_upload_read_again() -> None:
    roster = read_upload("students.csv", b"\x89PNG\r\n\x1a\n" + bytes(64))

    assert roster.people == []
    assert "PNG image" in roster.errors[0].message
