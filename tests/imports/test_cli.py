"""`flask roster import`: files, zips and folders; summaries, --json, exit codes, the actor."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from tests.roster.bundles import school_bundle
from webapp.extensions import db
from webapp.imports import fingerprint, jobs
from webapp.models import ImportRun, Role, User

PEOPLE = "ID,First Name,Last Name,Role\n1,Ada,Lovelace,student\n2,Alan,Turing,student\n"


@pytest.fixture
def school(app) -> int:
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.ADMIN, username="district", district_wide=True)
        db.session.commit()
        return school.id


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["roster", "import", *args])


def people(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(User.role != Role.ADMIN))


def write_bundle(folder: Path, students: int = 10) -> Path:
    folder.mkdir()
    for name, data in school_bundle(students).files().items():
        (folder / name).write_bytes(data)
    return folder


def test_imports_a_spreadsheet_for_a_school(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output and "Applied" in result.output
    assert people(app) == 2
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert run.status == "applied" and run.source == f"csv:{school}"
        assert run.upload_key is None and run.origin == "cli"


def test_folder_dry_run_prints_json_and_changes_nothing(app, school, tmp_path):
    folder = write_bundle(tmp_path / "export")
    result = invoke(app, str(folder), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "oneroster-1.1" and report["applied"] is False
    assert report["counts"]["new"] == 21 and report["counts"]["errors"] == 0
    assert people(app) == 0


def test_errors_exit_non_zero_with_file_line_and_column(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE + "3,,NoFirst,student\n")
    result = invoke(app, str(path), "--school", str(school), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    error = next(p for p in report["problems"] if p["severity"] == "error")
    assert error == {
        "severity": "error",
        "file": "students.csv",
        "line": 4,
        "column": "First Name",
        "message": error["message"],
        "kind": "no-name",
    }
    assert people(app) == 0


def test_mass_deactivation_needs_yes(app, school, tmp_path):
    full = tmp_path / "students.csv"
    full.write_text("ID,First Name,Last Name\n" + "".join(f"{i},G{i},F{i}\n" for i in range(20)))
    assert invoke(app, str(full), "--school", str(school), "--complete").exit_code == 0
    cut = tmp_path / "students-cut.csv"
    cut.write_text("ID,First Name,Last Name\n" + "".join(f"{i},G{i},F{i}\n" for i in range(5)))
    result = invoke(app, str(cut), "--school", str(school), "--complete")
    assert result.exit_code == 3 and "--yes" in result.output
    with app.app_context():
        assert not db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None)))
    result = invoke(app, str(cut), "--school", str(school), "--complete", "--yes")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None))) == 15


def test_delta_never_deactivates_absentees(app, school, tmp_path):
    full = tmp_path / "students.csv"
    full.write_text("ID,First Name,Last Name\n" + "".join(f"{i},G{i},F{i}\n" for i in range(20)))
    invoke(app, str(full), "--school", str(school), "--complete")
    cut = tmp_path / "students-cut.csv"
    cut.write_text("ID,First Name,Last Name\n1,G1,F1\n")
    result = invoke(app, str(cut), "--school", str(school), "--delta", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["counts"]["deactivate"] == 0


def test_actor_must_be_named_when_several_district_admins_exist(app, school, tmp_path):
    with app.app_context():
        make_user(Role.ADMIN, username="second", district_wide=True)
        db.session.commit()
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 1 and "--as" in result.output and people(app) == 0
    assert invoke(app, str(path), "--school", str(school), "--as", "second").exit_code == 0


def test_school_admin_cannot_import_into_another_school(app, school, tmp_path):
    with app.app_context():
        make_user(Role.ADMIN, username="other", school=make_school("Elm School"))
        db.session.commit()
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    result = invoke(app, str(path), "--school", str(school), "--as", "other")
    assert result.exit_code == 1 and people(app) == 0


def test_unknown_admin_is_refused(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    result = invoke(app, str(path), "--as", "nobody")
    assert result.exit_code == 1 and "must name an active admin" in result.output


def test_an_identical_file_is_skipped_unless_the_database_moved(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    assert invoke(app, str(path), "--school", str(school)).exit_code == 0
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 0 and "skipped" in result.output
    with app.app_context():
        from webapp.models import utcnow

        db.session.scalar(select(User).where(User.sourced_id == "1")).deactivated_at = utcnow()
        db.session.commit()
    # Someone was switched off since: the same file now has work to do (reactivation).
    result = invoke(app, str(path), "--school", str(school), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["counts"]["reactivate"] == 1


def test_an_identical_file_is_planned_again_after_an_edit_that_changes_no_count(
    app, school, tmp_path
):
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    assert invoke(app, str(path), "--school", str(school)).exit_code == 0
    with app.app_context():
        person = db.session.scalar(select(User).where(User.sourced_id == "1"))
        original = person.given_name
        person.given_name = "Renamed in Keyslip"
        db.session.commit()
    # Same bytes, same counts, but a value the file controls moved: the file wins again.
    result = invoke(app, str(path), "--school", str(school), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["counts"]["updated"] == 1
    with app.app_context():
        person = db.session.scalar(select(User).where(User.sourced_id == "1"))
        assert person.given_name == original


def test_a_changed_file_is_planned_without_digesting_the_database_first(
    app, school, tmp_path, monkeypatch
):
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    assert invoke(app, str(path), "--school", str(school)).exit_code == 0
    digested: list[str] = []
    real = fingerprint.db_fingerprint
    monkeypatch.setattr(
        fingerprint, "db_fingerprint", lambda source: digested.append(source) or real(source)
    )
    path.write_text(PEOPLE + "3,Grace,Hopper,student\n")
    result = invoke(app, str(path), "--school", str(school), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["counts"]["new"] == 1
    # Other bytes cannot be "unchanged": the whole database is not read to find that out.
    assert digested == []


def test_the_collector_sleeps_through_the_whole_import_and_wakes_after(
    app, school, tmp_path, monkeypatch
):
    awake: list[bool] = []
    real = jobs.finish_apply
    monkeypatch.setattr(
        jobs, "finish_apply", lambda *a, **k: awake.append(gc.isenabled()) or real(*a, **k)
    )
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE)
    assert invoke(app, str(path), "--school", str(school)).exit_code == 0
    path.write_text("Colour,Shape\nred,round\n")
    assert invoke(app, str(path), "--school", str(school)).exit_code == 1
    assert awake == [False] and gc.isenabled()


DATED = "ID,First Name,Last Name,Role,Leaving Date\n1,Ada,Lovelace,student,03/04/2001\n"


def test_ambiguous_dates_exit_non_zero_and_print_the_question(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(DATED + "2,Alan,Turing,student,\n")
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 1
    assert "line 2, column Leaving Date: Dates in column 'Leaving Date' could be" in result.output
    assert "--date-order dmy (03/04/2001 = 3 April 2001)" in result.output
    assert "--date-order mdy (03/04/2001 = 4 March 2001)" in result.output
    assert people(app) == 0


def test_date_order_answers_the_question(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(DATED + "2,Alan,Turing,student,\n")
    result = invoke(app, str(path), "--school", str(school), "--date-order", "dmy", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["counts"]["errors"] == 0 and report["applied"] is True
    assert [q["order"] for q in report["date_questions"]] == ["DMY"]
    assert people(app) == 1  # Ada left in 2001, so only Alan was created


def test_passwords_set_and_send_print_flags_reach_the_import(app, school, tmp_path):
    from webapp.models import CredentialBatch, Delivery
    from webapp.services import passwords

    path = tmp_path / "students.csv"
    path.write_text(
        "ID,First Name,Last Name,Role,Password\n"
        "1,Ada,Lovelace,student,violet-harbour-lantern\n2,Alan,Turing,student,\n"
    )
    result = invoke(
        app, str(path), "--school", str(school), "--passwords", "set", "--send", "print"
    )
    assert result.exit_code == 0, result.output
    assert "Passwords: 1 new and 0 reset from the file; 1 to generate" in result.output
    assert "violet-harbour-lantern" not in result.output
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert (run.passwords, run.send) == ("set", "print")
        ada = db.session.scalar(select(User).where(User.sourced_id == "1"))
        assert passwords.verify_password(ada.password_hash, "violet-harbour-lantern")
        batch = db.session.scalar(select(CredentialBatch))
        assert (batch.kind, batch.channel) == ("password", "print")
        alan = db.session.scalar(select(User).where(User.sourced_id == "2"))
        assert list(db.session.scalars(select(Delivery.user_id))) == [alan.id]


def test_by_default_the_cli_ignores_a_password_column_and_sends_nothing(app, school, tmp_path):
    from webapp.models import CredentialBatch

    path = tmp_path / "students.csv"
    path.write_text("ID,First Name,Last Name,Role,Password\n1,Ada,Lovelace,student,x\n")
    result = invoke(app, str(path), "--school", str(school))
    assert result.exit_code == 0, result.output
    assert "column Password: The password column was ignored" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.sourced_id == "1")).password_hash is None
        assert db.session.scalars(select(CredentialBatch)).all() == []


def test_cli_refuses_passwords_by_sms(app, school, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(PEOPLE)
    result = invoke(app, str(path), "--school", str(school), "--passwords", "set", "--send", "sms")
    assert result.exit_code == 1 and "never sent by SMS" in result.output
    assert people(app) == 0
