"""Spreadsheet columns in the import service: encodings, no header row, remembered mappings."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports import mapping, runs
from webapp.models import ImportRun, Role, Setting, User
from webapp.services.errors import PolicyError

LATIN1 = "Schüler-ID;Vorname;Nachname\n1;Jürgen;Müller\n2;Zoë;Groß\n".encode("latin-1")
# A German SIS export with no header row: ID; first name; last name; class.
HEADERLESS = b"".join(f"{i};Kind{i};Familie{i};5a\n".encode() for i in range(1, 8))
BEFORE = b"ID,First Name,Last Name\n1,Ada,Lovelace\n2,Alan,Turing\n"
AFTER = (
    b"ID,First Name,Last Name,Status,Email\n"
    b"1,Ada,Lovelace,left,ada@example.org\n2,Alan,Turing,active,alan@example.org\n"
)


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        school = make_school("Eiche")
        admin = make_user(Role.ADMIN, school=school, username="admin.e")
        db.session.commit()
        return {"school": school.id, "admin": admin.id}


def start(ids, data: bytes, name: str = "students.csv", **options) -> ImportRun:
    actor = db.session.get(User, ids["admin"])
    request = runs.ImportRequest(school_id=ids["school"], **options)
    return runs.start_import(name, data, request, actor=actor)


def admin(ids) -> User:
    return db.session.get(User, ids["admin"])


def test_a_latin1_header_is_offered_and_saved_as_written(app, ids):
    with app.app_context():
        run = start(ids, LATIN1)
        choice = mapping.mapping_choice(run)
        assert choice.headers == ["Schüler-ID", "Vorname", "Nachname"]
        mapping.save_mapping(run, {**choice.mapping, "role": "=student"}, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
    assert sorted(p.family_name for p in plan.roster.people) == ["Groß", "Müller"]
    assert plan.counts()["new"] == 2


def test_a_headerless_semicolon_file_imports_every_row(app, ids):
    with app.app_context():
        run = start(ids, HEADERLESS, has_header=False)
        choice = mapping.mapping_choice(run)
        assert choice.headers == ["Column 1", "Column 2", "Column 3", "Column 4"]
        assert choice.samples["Column 2"] == ["Kind1", "Kind2", "Kind3"]
        columns = {"sourced_id": "1", "given_name": "2", "family_name": "Column 3"}
        mapping.save_mapping(run, {**columns, "role": "=student"}, actor=admin(ids))
        plan = runs.build_plan(run, actor=admin(ids))
    assert plan.counts()["new"] == 7
    assert [p.line for p in plan.roster.people] == [1, 2, 3, 4, 5, 6, 7]


def test_only_a_spreadsheet_may_be_headerless(app, ids):
    with app.app_context(), pytest.raises(PolicyError):
        start(ids, HEADERLESS, has_header=False, format="clever")


def test_an_unknown_field_lists_the_fields_and_a_missing_column_lists_the_columns(app, ids):
    with app.app_context():
        run = start(ids, BEFORE)
        with pytest.raises(PolicyError) as raised:
            mapping.save_mapping(
                run, {"firstname": "First Name", "family_name": "Surname"}, actor=admin(ids)
            )
    field, column = raised.value.problems[:2]
    assert "'firstname' is not a Keyslip field" in field and "given_name" in field
    assert "no column 'Surname'" in column and "ID, First Name, Last Name" in column


def test_a_column_may_be_named_in_any_case_and_spacing(app, ids):
    with app.app_context():
        run = start(ids, BEFORE)
        mapping.save_mapping(
            run, {"sourced_id": "id", "given_name": "first_name", "family_name": "LAST NAME",
                  "role": "=student"},
            actor=admin(ids),
        )  # fmt: skip
        assert run.options["mapping"] == {
            "sourced_id": "ID",
            "given_name": "First Name",
            "family_name": "Last Name",
            "role": "=student",
        }


def remember_first_file(ids) -> None:
    run = start(ids, BEFORE)
    choice = mapping.mapping_choice(run)
    mapping.save_mapping(run, choice.mapping, actor=admin(ids))
    db.session.commit()


def test_a_remembered_mapping_is_not_applied_to_a_file_with_new_columns(app, ids):
    with app.app_context():
        remember_first_file(ids)
        run = start(ids, AFTER)
        choice = mapping.mapping_choice(run)
        assert choice.remembered and choice.changed
        assert choice.new_columns == ["Status", "Email"]
        assert choice.unmapped == [("Status", "status"), ("Email", "email")]
        assert "columns the last one did not: Status, Email" in choice.differences()
        with pytest.raises(PolicyError, match="Status, Email"):
            mapping.automatic_mapping(run)
        with pytest.raises(PolicyError, match="tick the box"):
            mapping.save_mapping(run, choice.mapping, actor=admin(ids))
        mapping.save_mapping(
            run, {**choice.mapping, "status": "Status"}, actor=admin(ids), confirmed=True
        )
        assert run.options["mapping"]["status"] == "Status"


def test_a_remembered_mapping_is_reused_for_a_file_with_the_same_columns(app, ids):
    with app.app_context():
        remember_first_file(ids)
        run = start(ids, BEFORE.replace(b"Turing", b"Turing-Smith"))
        choice = mapping.automatic_mapping(run)
        assert choice.remembered and not choice.changed
        assert run.options["mapping"] == choice.mapping
        saved = db.session.scalar(select(Setting.value).where(Setting.key == "roster.csv_mapping"))
    assert saved["headers"] == ["ID", "First Name", "Last Name"]


def test_a_mapping_remembered_without_its_headers_must_be_confirmed(app, ids):
    with app.app_context():
        db.session.add(
            Setting(
                school_id=ids["school"],
                key="roster.csv_mapping",
                value={"sourced_id": "ID", "given_name": "First Name", "family_name": "Last Name"},
            )
        )
        db.session.flush()
        run = start(ids, BEFORE)
        choice = mapping.mapping_choice(run)
        assert choice.remembered and choice.changed
        with pytest.raises(PolicyError):
            mapping.automatic_mapping(run)


def test_a_remembered_mapping_that_names_missing_columns_is_neither_used_nor_replaced_quietly(
    app, ids
):
    with app.app_context():
        remember_first_file(ids)
        run = start(ids, b"Pupil ID,Forename,Surname\n1,Ada,Lovelace\n")
        choice = mapping.mapping_choice(run)
        assert choice.previous and not choice.remembered and choice.changed
        assert choice.mapping["given_name"] == "Forename"  # a guess, offered for checking
        assert choice.gone_columns == ["ID", "First Name", "Last Name"]
        with pytest.raises(PolicyError, match="lacks: ID, First Name, Last Name"):
            mapping.automatic_mapping(run)
