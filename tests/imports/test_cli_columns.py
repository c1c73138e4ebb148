"""`flask roster import` for spreadsheets: --no-header, --mapping, --mapping-file, remembered."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.models import ImportRun, Role, User

GERMAN = "Schüler-ID;Vorname;Nachname\n1;Jürgen;Müller\n2;Zoë;Groß\n3;Anna;Weiß\n"
# No header row: id; first name; last name; class. Semicolons, as German Excel writes.
HEADERLESS = "".join(f"{i};Kind{i};Familie{i};5a\n" for i in range(1, 10))
BEFORE = "ID,First Name,Last Name\n1,Ada,Lovelace\n2,Alan,Turing\n"
AFTER = "ID,First Name,Last Name,Status,Email\n1,Ada,Lovelace,left,ada@example.org\n"


@pytest.fixture
def school(app) -> int:
    with app.app_context():
        school = make_school("Eiche")
        make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        return school.id


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["roster", "import", *args])


def people(app) -> list[str]:
    with app.app_context():
        return sorted(
            db.session.scalars(select(User.family_name).where(User.role != Role.ADMIN)).all()
        )


def runs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ImportRun.id)))


def test_no_header_imports_every_row_by_position(app, school, tmp_path):
    path = tmp_path / "klasse.csv"
    path.write_text(HEADERLESS)
    result = invoke(
        app, str(path), "--school", str(school), "--no-header",
        "--mapping", "sourced_id=1,given_name=2,family_name=Column 3,role==student",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "9 new" in result.output
    assert len(people(app)) == 9


def test_a_latin1_file_with_a_mapping_imports_the_names_right(app, school, tmp_path):
    path = tmp_path / "schueler.csv"
    path.write_bytes(GERMAN.encode("latin-1"))
    result = invoke(
        app, str(path), "--school", str(school),
        "--mapping", "sourced_id=Schüler-ID,given_name=Vorname,family_name=Nachname,role==student",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert people(app) == ["Groß", "Müller", "Weiß"]


def test_german_headers_are_recognised_without_a_mapping(app, school, tmp_path):
    path = tmp_path / "schueler.csv"
    path.write_text(GERMAN, encoding="utf-8")
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 0, result.output
    assert people(app) == ["Groß", "Müller", "Weiß"]


def test_a_mapping_with_an_unknown_field_lists_the_fields(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(BEFORE)
    result = invoke(
        app, str(path), "--school", str(school),
        "--mapping", "id=ID,given_name=First Name,family_name=Last Name",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "'id' is not a Keyslip field" in result.output
    assert "sourced_id, username, given_name" in result.output
    assert people(app) == [] and runs(app) == 0


def test_a_mapping_with_a_missing_column_lists_the_files_columns(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(BEFORE)
    result = invoke(
        app, str(path), "--school", str(school),
        "--mapping", "sourced_id=ID,given_name=First Name,family_name=Surname",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no column 'Surname'" in result.output
    assert "Its columns are: ID, First Name, Last Name" in result.output
    assert people(app) == []


def test_a_mapping_that_is_not_field_equals_column_is_refused(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(BEFORE)
    result = invoke(app, str(path), "--school", str(school), "--mapping", "given_name")
    assert result.exit_code == 2
    assert "not field=column" in result.output


def test_a_mapping_file_maps_the_columns(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("Nr,Rufname,Familienname\n7,Ada,Lovelace\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps(
            {"sourced_id": "Nr", "given_name": "Rufname", "family_name": "Familienname",
             "role": "=student"}
        )
    )  # fmt: skip
    result = invoke(app, str(path), "--school", str(school), "--mapping-file", str(mapping))
    assert result.exit_code == 0, result.output
    assert people(app) == ["Lovelace"]


@pytest.mark.parametrize(
    "content", ['["sourced_id", "Nr"]', "{not json", '{"sourced_id": 7}'], ids=str
)
def test_a_bad_mapping_file_is_refused(app, school, tmp_path, content):
    path = tmp_path / "students.csv"
    path.write_text(BEFORE)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(content)
    result = invoke(app, str(path), "--school", str(school), "--mapping-file", str(mapping))
    assert result.exit_code == 2
    assert "mapping.json" in result.output
    assert people(app) == []


def test_a_remembered_mapping_is_not_used_for_a_file_with_new_columns(app, school, tmp_path):
    first, second = tmp_path / "before.csv", tmp_path / "after.csv"
    first.write_text(BEFORE)
    second.write_text(AFTER)
    assert invoke(app, str(first), "--school", str(school), "--mapping",
                  "sourced_id=ID,given_name=First Name,family_name=Last Name,role==student",
                  ).exit_code == 0  # fmt: skip
    result = invoke(app, str(second), "--school", str(school))
    assert result.exit_code == 1
    assert "columns the last one did not: Status, Email" in result.output
    assert "--mapping" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None))) == 0
    assert runs(app) == 1


def test_a_remembered_mapping_is_reused_for_the_same_columns(app, school, tmp_path):
    first, second = tmp_path / "before.csv", tmp_path / "again.csv"
    first.write_text(BEFORE)
    second.write_text(BEFORE + "3,Grace,Hopper\n")
    assert invoke(app, str(first), "--school", str(school), "--mapping",
                  "sourced_id=ID,given_name=First Name,family_name=Last Name,role==teacher",
                  ).exit_code == 0  # fmt: skip
    result = invoke(app, str(second), "--school", str(school))
    assert result.exit_code == 0, result.output
    with app.app_context():
        roles = set(db.session.scalars(select(User.role).where(User.role != Role.ADMIN)))
    assert roles == {Role.TEACHER}  # the remembered "everyone is a teacher", not the default


def test_unmapped_columns_that_matter_are_pointed_out(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text("ID,First Name,Last Name,Role,Leaver\n1,Ada,Lovelace,student,yes\n")
    result = invoke(app, str(path), "--school", str(school), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["unmapped_columns"] == [{"column": "Leaver", "looks_like": "status"}]


def test_a_headerless_file_without_no_header_is_refused_with_the_way_out(app, school, tmp_path):
    path = tmp_path / "klasse.csv"
    path.write_text(HEADERLESS.replace("Kind1", "kind1@example.org"))
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 1
    assert "looks like data" in result.output and "--no-header" in result.output
    assert people(app) == []
