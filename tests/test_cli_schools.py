"""`flask schools list|create|rename`, and what `--school` says on other commands."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Role, School, User

PEOPLE = "ID,First Name,Last Name,Role\n1,Ada,Lovelace,student\n"


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        oak, elm = make_school("Oak School"), make_school("Elm School")
        oak.source, oak.sourced_id = "sis", "oak-1"
        make_user(Role.ADMIN, username="district", district_wide=True)
        make_user(Role.ADMIN, school=oak, username="limited")
        make_user(Role.STUDENT, school=oak)
        db.session.commit()
        return {"oak": oak.id, "elm": elm.id}


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def school_named(app, name: str) -> School | None:
    with app.app_context():
        return db.session.scalar(select(School).where(School.name == name))


def test_list_shows_ids_sis_ids_names_and_people(app, ids):
    result = invoke(app, "schools", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:] == [f"{ids['elm']}\t-\tElm School\t0", f"{ids['oak']}\toak-1\tOak School\t2"]


def test_create_with_an_sis_id(app, ids):
    result = invoke(app, "schools", "create", "Pine Academy", "--sis-id", "pine-7")
    assert result.exit_code == 0, result.output
    school = school_named(app, "Pine Academy")
    assert school is not None and school.sourced_id == "pine-7"
    assert f"{school.id}\tpine-7\tPine Academy" in result.output


def test_create_refuses_a_name_taken_in_another_case(app, ids):
    result = invoke(app, "schools", "create", "OAK school")
    assert result.exit_code == 1 and "already a school called 'Oak School'" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(School)) == 2


def test_rename_by_sis_id_and_set_a_new_sis_id(app, ids):
    result = invoke(app, "schools", "rename", "oak-1", "Big Oak", "--sis-id", "oak-2")
    assert result.exit_code == 0, result.output
    with app.app_context():
        oak = db.session.get(School, ids["oak"])
        assert (oak.name, oak.sourced_id) == ("Big Oak", "oak-2")
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "school_renamed" in actions and "school_sis_id_set" in actions


def test_rename_needs_a_new_name_or_an_sis_id(app, ids):
    result = invoke(app, "schools", "rename", "Oak School")
    assert result.exit_code == 2 and "NEW_NAME" in result.output


def test_a_school_limited_admin_cannot_create_schools(app, ids):
    result = invoke(app, "schools", "create", "Pine", "--as", "limited")
    assert result.exit_code == 1 and "district-wide admin" in result.output
    assert school_named(app, "Pine") is None


def test_rename_of_an_unknown_school_lists_the_known_ones(app, ids):
    result = invoke(app, "schools", "rename", "Pine", "Cedar")
    assert result.exit_code == 1
    assert "No such school: Pine. Known schools: Elm School (id" in result.output
    assert "Oak School (SIS id oak-1, id" in result.output


def test_roster_import_takes_the_school_by_sis_id_or_name(app, ids, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    result = invoke(app, "roster", "import", str(path), "--school", "oak-1")
    assert result.exit_code == 0, result.output
    path.write_text(PEOPLE.replace("1,Ada", "2,Ada"))
    result = invoke(app, "roster", "import", str(path), "--school", "Elm School")
    assert result.exit_code == 0, result.output
    with app.app_context():
        ada = db.session.scalars(select(User).where(User.given_name == "Ada")).all()
        assert sorted(s.name for user in ada for s in user.schools) == ["Elm School", "Oak School"]


def test_roster_import_names_a_missing_school_and_lists_the_known_ones(app, ids, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    result = invoke(app, "roster", "import", str(path), "--school", "Pine")
    assert result.exit_code == 1
    assert "No such school: Pine. Known schools:" in result.output
    assert "Elm School" in result.output and "Not your school" not in result.output


def test_roster_import_says_not_your_school_only_when_it_exists(app, ids, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    result = invoke(app, "roster", "import", str(path), "--school", "Elm School", "--as", "limited")
    assert result.exit_code == 1 and "Not your school: Elm School." in result.output
    with app.app_context():
        denied = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "authz_denied"))
        assert denied is not None and denied.details["object_id"] == ids["elm"]
    missing = invoke(app, "roster", "import", str(path), "--school", "Pine", "--as", "limited")
    assert "No such school: Pine. Known schools: Oak School" in missing.output
    assert "Elm" not in missing.output


def test_credentials_send_takes_the_school_by_sis_id(app, ids):
    result = invoke(
        app, "credentials", "send", "--as", "district", "--role", "student", "--school", "oak-1",
        "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Oak School: 1 student account(s) selected.")


def test_credentials_send_says_no_such_school(app, ids):
    result = invoke(
        app, "credentials", "send", "--as", "district", "--role", "student", "--school", "Pine",
    )  # fmt: skip
    assert result.exit_code == 1 and "No such school: Pine." in result.output
