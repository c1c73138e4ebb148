"""Uploads that are no roster are refused by start_import before anything is kept."""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports import mapping, runs
from webapp.models import AuditEvent, ImportRun, Role, User
from webapp.roster import upload as upload_module
from webapp.services import uploads
from webapp.services.errors import PolicyError

PEOPLE = "ID,First Name,Last Name,Role\n1,Ada,Lovelace,student\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def xlsx() -> bytes:
    return make_zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/workbook.xml": b"<workbook/>",
            "xl/worksheets/sheet1.xml": b"<worksheet/>",
        }
    )


@pytest.fixture
def actor_id(app) -> int:
    with app.app_context():
        school = make_school("Oak School")
        admin = make_user(Role.ADMIN, school=school, username="admin.oak")
        db.session.commit()
        return admin.id


def start(name: str, data: bytes, actor_id: int, **request) -> ImportRun:
    actor = db.session.get(User, actor_id)
    return runs.start_import(name, data, runs.ImportRequest(**request), actor=actor)


def refused(app, actor_id: int, name: str, data: bytes, **request) -> str:
    """Return the refusal's message after checking that nothing was kept."""
    with app.app_context():
        with pytest.raises(PolicyError) as caught:
            start(name, data, actor_id, **request)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0
        assert list(uploads.upload_dir().glob("*")) == []
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    return " ".join(caught.value.problems)


def test_a_zip_bomb_is_refused_when_the_format_is_detected(app, actor_id, monkeypatch):
    # The real limit is 128 MiB; a small one keeps the test quick and the check the same.
    monkeypatch.setattr(upload_module, "MAX_MEMBER_BYTES", 64 * 1024)
    bomb = make_zip({"users.csv": b"0" * (1024 * 1024)})
    assert len(bomb) < 4096

    message = refused(app, actor_id, "roster.zip", bomb)

    assert "users.csv" in message and "larger than" in message


def test_a_zip_bomb_named_csv_is_still_unpacked_and_refused(app, actor_id, monkeypatch):
    monkeypatch.setattr(upload_module, "MAX_TOTAL_BYTES", 64 * 1024)
    bomb = make_zip({f"part{i}.csv": b"0" * 40_000 for i in range(3)})

    message = refused(app, actor_id, "students.csv", bomb)

    assert "unpacks to more than" in message


def test_a_zip_holding_only_a_path_out_of_the_archive_is_refused(app, actor_id):
    message = refused(app, actor_id, "roster.zip", make_zip({"../../x.csv": PEOPLE.encode()}))

    assert "entry '../../x.csv' has an unsafe path" in message
    assert "holds no CSV files" in message


def test_random_bytes_named_csv_are_refused_with_where_the_binary_starts(app, actor_id):
    noise = random.Random(7).randbytes(4096)
    first_binary = next(
        i for i, b in enumerate(noise) if b < 32 and b not in (9, 10, 11, 12, 13, 26) or b == 127
    )

    message = refused(app, actor_id, "people.csv", noise)

    assert (
        f"people.csv: The file does not look like text (binary data at byte {first_binary + 1})"
        in message
    )


def test_a_png_is_refused(app, actor_id):
    message = refused(app, actor_id, "people.csv", PNG)

    assert "This looks like a PNG image, not a CSV or ZIP roster export" in message


def test_an_xlsx_renamed_csv_is_refused(app, actor_id):
    message = refused(app, actor_id, "people.csv", xlsx())

    assert "This is an Excel workbook (.xlsx)" in message
    assert "save it as CSV (UTF-8) and upload that" in message


def test_an_empty_file_is_refused(app, actor_id):
    assert "The file is empty" in refused(app, actor_id, "people.csv", b"")
    assert "The file is empty" in refused(app, actor_id, "people.csv", b"\xef\xbb\xbf\r\n")


def test_an_empty_zip_and_a_zip_without_csv_files_are_refused(app, actor_id):
    assert "The ZIP file is empty" in refused(app, actor_id, "roster.zip", make_zip({}))
    message = refused(app, actor_id, "roster.zip", make_zip({"readme.txt": b"hello"}))
    assert "The ZIP file holds no CSV files (it holds readme.txt)" in message


def test_a_binary_member_inside_a_zip_is_refused(app, actor_id):
    data = make_zip({"students.csv": PEOPLE.encode(), "photo.csv": PNG})

    message = refused(app, actor_id, "roster.zip", data)

    assert "photo.csv: This looks like a PNG image" in message


def test_a_chosen_format_goes_through_the_same_checks(app, actor_id):
    message = refused(app, actor_id, "people.csv", PNG, format="clever")

    assert "PNG image" in message


@pytest.mark.parametrize(
    "data",
    [
        "ID;Vorname;Nachname\r\n1;Jürgen;Müller\r\n2;Ömer;Öztürk\r\n".encode("latin-1"),
        "ID,First,Last\r\n1,“Zoë”,Núñez – Jr\r\n".encode("cp1252"),
        "ID\tFirst Name\tLast Name\r\n1\tZoë\tNúñez\r\n".encode("utf-16"),
        "ID\tFirst Name\tLast Name\r\n1\tZoë\tNúñez\r\n".encode("utf-16-le"),
        b"ID,First Name,Last Name\r\n1,Ann,Lee\r\n2,B\x00o,Ray\r\n",
    ],
    ids=["latin-1", "cp1252", "utf-16", "utf-16-le-without-bom", "one-nul-byte"],
)
def test_real_text_exports_are_kept(app, actor_id, data):
    with app.app_context():
        run = start("people.csv", data, actor_id)
        assert run.id is not None and run.format == "csv"
        assert len(list(uploads.upload_dir().glob("*.bin"))) == 1


def test_a_zip_of_csv_files_named_csv_is_read_as_the_zip_it_is(app, actor_id):
    with app.app_context():
        run = start("export.csv", make_zip({"students.csv": PEOPLE.encode()}), actor_id)
        assert mapping.mapping_choice(run).headers == [
            "ID",
            "First Name",
            "Last Name",
            "Role",
        ]
