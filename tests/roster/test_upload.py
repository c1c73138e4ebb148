"""Uploads: zips unpacked safely, single CSVs, format detection."""

from __future__ import annotations

import io
import zipfile

from webapp.roster import detect_format, read_upload
from webapp.roster.upload import MAX_MEMBER_BYTES, unpack_upload

PEOPLE = b"ID,First Name,Last Name\n1,Ann,Lee\n"


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_path_traversal_members_are_skipped_and_never_written(tmp_path) -> None:
    data = make_zip({"../../x.csv": PEOPLE, "/etc/passwd.csv": PEOPLE, "ok/people.csv": PEOPLE})
    files, problems = unpack_upload("../../roster.zip", data)

    assert list(files) == ["people.csv"]
    assert sum("leaves the archive" in p.message for p in problems) == 2
    assert not (tmp_path.parent / "x.csv").exists()


def test_single_csv_upload_uses_only_the_base_name() -> None:
    roster = read_upload("C:\\Users\\me\\..\\students.csv", PEOPLE)

    assert [p.file for p in roster.people] == ["students.csv"]


def test_zip_bomb_member_is_refused() -> None:
    data = make_zip({"users.csv": b"0" * (MAX_MEMBER_BYTES + 10)})
    roster = read_upload("big.zip", data)

    assert roster.people == []
    assert "MiB" in roster.errors[0].message


def test_xlsx_renamed_zip_is_refused() -> None:
    data = make_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"})
    roster = read_upload("roster.zip", data)

    assert "Excel" in roster.errors[0].message


def test_csv_named_zip_is_refused() -> None:
    roster = read_upload("roster.zip", PEOPLE)

    assert "not a zip" in roster.errors[0].message


def test_damaged_zip_is_an_error_not_a_crash() -> None:
    roster = read_upload("roster.zip", make_zip({"a.csv": PEOPLE})[:40])

    assert roster.errors


def test_detect_format_rules() -> None:
    manifest12 = b"propertyName,value\noneroster.version,1.2\n"
    assert detect_format({"manifest.csv": manifest12}) == "oneroster-1.2"
    assert detect_format({"manifest.csv": b"propertyName,value\n"}) == "oneroster-1.1"
    assert detect_format({"students.csv": b"School_id,Student_id,First_name\n"}) == "clever"
    assert detect_format({"roles.csv": b"userSourcedId,role\n", "users.csv": b"x\n"}) == "sds-2.1"
    assert detect_format({"Student.csv": b"ID,School DfE Number,First Name\n"}) == "sds-uk"
    assert detect_format({"kids.csv": b"Forename,Surname\n"}) == "csv"


def test_format_override_wins() -> None:
    data = b"School_id,Student_id,First_name,Last_name\nS1,1,Ann,Lee\n"
    roster = read_upload("students.csv", data, format="csv")

    assert roster.format == "csv"
    assert [p.sourced_id for p in roster.people] == ["1"]
