"""Property tests: no input makes the readers raise, and valid rows survive a round trip."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.roster import Roster, read_roster, read_upload
from webapp.roster.normalise import clean_text

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = ["auto", "oneroster-1.1", "oneroster-1.2", "clever", "sds-2.1", "sds-uk", "csv"]


def assert_no_internal_error(roster: Roster) -> None:
    assert isinstance(roster, Roster)
    assert not [p for p in roster.problems if "internal error" in p.message]


@SETTINGS
@given(data=st.binary(max_size=2048), fmt=st.sampled_from(FORMATS))
def test_arbitrary_bytes_never_raise(data: bytes, fmt: str) -> None:
    names = {
        "oneroster-1.1": "users.csv",
        "oneroster-1.2": "users.csv",
        "clever": "students.csv",
        "sds-2.1": "users.csv",
        "sds-uk": "Student.csv",
    }
    assert_no_internal_error(read_roster({names.get(fmt, "students.csv"): data}, format=fmt))
    assert_no_internal_error(read_upload("upload.csv", data))
    assert_no_internal_error(read_upload("upload.zip", data))


USERS_HEADER = [
    "sourcedId",
    "status",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "email",
    "sms",
    "agentSourcedIds",
    "grades",
]
CLEVER_HEADER = [
    "School_id",
    "Student_id",
    "First_name",
    "Last_name",
    "Grade",
    "Contact_type",
    "Contact_name",
    "Contact_phone",
    "Contact_email",
    "Contact_sis_id",
]
SHEET_HEADER = ["ID", "First Name", "Last Name", "Email", "Mobile", "Grade", "Role", "UPN"]
cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "student", "parent", "TRUE", "tobedeleted", "9", "K", "a,b", "{x:1}"]),
)


def csv_bytes(header: list[str], rows: list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")


@SETTINGS
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=14), max_size=8),
    kind=st.sampled_from(["oneroster", "clever", "sheet"]),
)
def test_arbitrary_cell_text_never_raises(rows: list[list[str]], kind: str) -> None:
    rows = [[c.replace("\ud800", "") for c in row] for row in rows]
    if kind == "oneroster":
        files = {
            "manifest.csv": b"propertyName,value\noneroster.version,1.1\nfile.users,bulk\n",
            "users.csv": csv_bytes(USERS_HEADER, rows),
        }
    elif kind == "clever":
        files = {
            "students.csv": csv_bytes(CLEVER_HEADER, rows),
            "teachers.csv": b"School_id,Teacher_id,First_name,Last_name\n",
        }
    else:
        files = {"students.csv": csv_bytes(SHEET_HEADER, rows)}
    assert_no_internal_error(read_roster(files))


name_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Zs", "Co", "Cn"),
        blacklist_characters="\ufeff",
    )
    | st.sampled_from([",", ";", '"', "'", "\t"]),
    min_size=1,
    max_size=40,
).filter(lambda s: clean_text(s)[0] == s)


@SETTINGS
@given(
    names=st.lists(st.tuples(name_text, name_text), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_valid_rows_survive_write_then_read(
    names: list[tuple[str, str]], delimiter: str, newline: str
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["ID", "First Name", "Last Name", "Role"])
    for i, (given_name, family_name) in enumerate(names, start=1):
        writer.writerow([f"id{i}", given_name, family_name, "student"])
    roster = read_roster({"students.csv": buffer.getvalue().encode()}, format="csv")

    assert roster.errors == []
    assert [(p.sourced_id, p.given_name, p.family_name) for p in roster.people] == [
        (f"id{i}", g, f) for i, (g, f) in enumerate(names, start=1)
    ]
    assert [p.line for p in roster.people] == list(range(2, len(names) + 2))


@SETTINGS
@given(
    notes=st.lists(st.text(alphabet='ab,"\r\n ;', max_size=12), min_size=1, max_size=10),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_line_numbers_count_newlines_inside_quoted_values(notes: list[str], newline: str) -> None:
    header = io.StringIO()
    csv.writer(header, lineterminator=newline).writerow(["ID", "Notes", "First Name", "Last Name"])
    chunks = [header.getvalue()]
    expected = []
    line = 1 + len(re.findall(r"\r\n|\r|\n", chunks[0]))
    for i, note in enumerate(notes, start=1):
        row = io.StringIO()
        # csv.writer quotes only the line terminator's own characters, so a
        # lone "\n" under a "\r" terminator would be written unquoted: quote all.
        writer = csv.writer(row, lineterminator=newline, quoting=csv.QUOTE_ALL)
        writer.writerow([f"id{i}", note, "Ann", "Lee"])
        expected.append(line)
        line += len(re.findall(r"\r\n|\r|\n", row.getvalue()))
        chunks.append(row.getvalue())
    roster = read_roster({"students.csv": "".join(chunks).encode()}, format="csv")

    assert [p.line for p in roster.people] == expected
