"""Import options: passwords keep|set from the file, and sending the new accounts credentials."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, make_school, make_user
from webapp.delivery import links
from webapp.extensions import db, mail
from webapp.imports import jobs, mapping, preview, runs
from webapp.models import (
    AuditEvent,
    CredentialBatch,
    Delivery,
    ImportRun,
    Role,
    School,
    SetPasswordToken,
    User,
    utcnow,
)
from webapp.services import passwords, settings
from webapp.services.errors import PolicyError

ADA_PASSWORD = "violet-harbour-lantern"
MUM_PASSWORD = "quiet-meadow-kettle-9"
SHEET = (
    "ID,First Name,Last Name,Role,Email,Password\n"
    f"1,Ada,Lovelace,student,ada@home.example,{ADA_PASSWORD}\n"
    "2,Alan,Turing,student,alan@home.example,\n"
    "3,Grace,Hopper,teacher,grace@school.example,\n"
)


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        school = make_school("Alpha")
        admin = make_user(Role.ADMIN, school=school, username="admin.a")
        db.session.commit()
        return {"school": school.id, "admin": admin.id}


def start(ids, data: str = SHEET, **request) -> ImportRun:
    """Upload a spreadsheet with its guessed columns; call inside an app context."""
    actor = db.session.get(User, ids["admin"])
    run = runs.start_import(
        "sheet.csv",
        data.encode(),
        runs.ImportRequest(school_id=ids["school"], **request),
        actor=actor,
    )
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    return run


def apply(ids, data: str = SHEET, **request) -> int:
    """Upload, apply and commit (the inline backend runs the apply and after-commit jobs)."""
    run = start(ids, data, **request)
    jobs.request_apply(run, actor=db.session.get(User, ids["admin"]), confirm=False)
    db.session.commit()
    return run.id


def user(sourced_id: str) -> User:
    return db.session.scalar(select(User).where(User.sourced_id == sourced_id))


def existing(ids, sourced_id: str, **fields) -> User:
    """Someone an earlier import of this school's spreadsheets created, already active."""
    school = db.session.get(School, ids["school"])
    return make_user(
        Role.STUDENT, school=school, source=f"csv:{ids['school']}", sourced_id=sourced_id, **fields
    )


# Planning and applying ---------------------------------------------------------------------


def test_a_file_password_becomes_a_temporary_password_that_must_be_changed(app, ids):
    with app.app_context():
        school = db.session.get(School, ids["school"])
        settings.set("temp_password_days", 5, school, db.session.get(User, ids["admin"]))
        db.session.commit()
        before = utcnow()
        run_id = apply(ids, passwords="set")
    with app.app_context():
        ada = user("1")
        assert passwords.verify_password(ada.password_hash, ADA_PASSWORD)
        assert ada.must_change_password and ada.invited_at is not None
        assert ada.state.value == "invited"
        expected = before + timedelta(days=5)
        assert abs(ada.temp_password_expires_at - expected) < timedelta(minutes=1)
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "credential_issued", AuditEvent.target_id == ada.id
            )
        )
        assert event.details["kind"] == "temporary_password"
        assert event.details["source"] == "import" and event.details["import_run"] == run_id
        counts = db.session.get(ImportRun, run_id).counts
        assert (counts["file_credentials_new"], counts["credentials_to_generate"]) == (1, 2)


def test_a_blank_file_password_sets_nothing_at_import(app, ids):
    with app.app_context():
        apply(ids, passwords="set")
    with app.app_context():
        alan = user("2")
        assert alan.password_hash is None and not alan.must_change_password
        assert alan.invited_at is None and alan.temp_password_expires_at is None
        assert alan.state.value == "not_sent"


def test_an_existing_person_is_reset_only_when_the_file_gives_a_password(app, ids):
    sheet = (
        "ID,First Name,Last Name,Role,Password\n"
        f"1,Ada,Lovelace,student,{ADA_PASSWORD}\n2,Alan,Turing,student,\n"
    )
    with app.app_context():
        # Ada was sent an invite and has not used it yet (an active account keeps its password).
        ada = existing(ids, "1", given_name="Ada", family_name="Lovelace", password=None)
        alan = existing(ids, "2", given_name="Alan", family_name="Turing")
        admin = db.session.get(User, ids["admin"])
        links.issue_link(ada, purpose="invite", actor=admin)
        links.issue_link(alan, purpose="reset", actor=admin)
        db.session.commit()
        epochs = {"1": ada.credential_epoch, "2": alan.credential_epoch}
        run_id = apply(ids, sheet, passwords="set", mode="add-update")
    with app.app_context():
        ada, alan = user("1"), user("2")
        assert passwords.verify_password(ada.password_hash, ADA_PASSWORD)
        assert ada.must_change_password and ada.activated_at is None
        assert ada.credential_epoch != epochs["1"]
        tokens = {
            t.user_id: t.voided_at for t in db.session.scalars(select(SetPasswordToken)).all()
        }
        assert tokens[ada.id] is not None  # her outstanding link is void
        assert passwords.verify_password(alan.password_hash, PASSWORD)  # blank: untouched
        assert not alan.must_change_password and alan.credential_epoch == epochs["2"]
        assert tokens[alan.id] is None
        assert db.session.get(ImportRun, run_id).counts["file_credentials_reset"] == 1


def test_update_only_mode_resets_existing_people_too(app, ids):
    sheet = f"ID,First Name,Last Name,Role,Password\n1,Ada,Lovelace,student,{ADA_PASSWORD}\n"
    with app.app_context():
        existing(ids, "1", given_name="Ada", family_name="Lovelace", password=None)
        db.session.commit()
        apply(ids, sheet, passwords="set", mode="update")
    with app.app_context():
        assert passwords.verify_password(user("1").password_hash, ADA_PASSWORD)


def test_add_only_mode_never_touches_an_existing_persons_password(app, ids):
    with app.app_context():
        existing(ids, "1", given_name="Ada", family_name="Lovelace")
        db.session.commit()
        run_id = apply(ids, passwords="set", mode="add")
    with app.app_context():
        ada = user("1")
        assert passwords.verify_password(ada.password_hash, PASSWORD)
        assert not ada.must_change_password
        assert db.session.get(ImportRun, run_id).counts["file_credentials_reset"] == 0


def test_a_weak_file_password_is_an_error_with_line_and_column_never_echoing_it(app, ids):
    sheet = (
        "ID,First Name,Last Name,Role,Initial Password\n"
        f"1,Ada,Lovelace,student,{ADA_PASSWORD}\n"
        "2,Alan,Turing,student,Turing77\n"
        "3,Grace,Hopper,teacher,short\n"
    )
    with app.app_context():
        run = start(ids, sheet, passwords="set")
        actor = db.session.get(User, ids["admin"])
        view = preview.preview(run, actor=actor, tab="problems")
        errors = [p for p in view.rows if p["severity"] == "error"]
        assert [(p["file"], p["line"], p["column"]) for p in errors] == [
            ("sheet.csv", 3, "Initial Password"),
            ("sheet.csv", 4, "Initial Password"),
        ]
        assert "name" in errors[0]["message"] and "15 characters" in errors[1]["message"]
        stored = json.dumps([run.row_errors, run.counts, run.options])
        for secret in ("Turing77", "short", ADA_PASSWORD):
            assert secret not in stored
            assert all(secret not in p["message"] for p in view.rows)
        with pytest.raises(PolicyError):
            jobs.request_apply(run, actor=actor, confirm=False)


def test_passwords_kept_ignore_the_column_with_a_warning(app, ids):
    with app.app_context():
        run = start(ids)  # passwords="keep" is the default
        plan = runs.build_plan(run, actor=db.session.get(User, ids["admin"]))
        assert [(w.column, "ignored" in w.message) for w in plan.warnings] == [("Password", True)]
        assert plan.counts()["file_credentials_new"] == 0
        db.session.rollback()
        apply(ids)
    with app.app_context():
        assert user("1").password_hash is None and user("1").invited_at is None


def test_the_preview_never_hashes_and_the_apply_hashes_each_file_password_once(
    app, ids, monkeypatch
):
    sheet = SHEET.replace("3,Grace,Hopper,teacher,grace@school.example,", "")
    sheet += f"4,Mum,Lovelace,parent,mum@home.example,{MUM_PASSWORD}\n"
    calls: list[str] = []
    real = passwords.hasher

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def hash(self, password: str) -> str:
            calls.append("hash")
            return self.inner.hash(password)

    monkeypatch.setattr(passwords, "hasher", lambda: Counting(real()))
    with app.app_context():
        run = start(ids, sheet, passwords="set")
        actor = db.session.get(User, ids["admin"])
        for tab in ("new", "changed", "problems"):
            preview.preview(run, actor=actor, tab=tab)
        runs.build_plan(run, actor=actor)
        assert calls == []
        jobs.request_apply(run, actor=actor, confirm=False)
        assert calls == []  # requesting only queues the job
        db.session.commit()
    assert len(calls) == 2


# After the apply commits: one batch for the new accounts -----------------------------------


@pytest.mark.settings(NOTIFY_NEW_STUDENTS=True)
def test_send_email_with_passwords_kept_emails_each_new_account_one_link(app, ids):
    with app.app_context(), mail.record_messages() as outbox:
        existing(ids, "9", email="old@home.example", password=None)
        db.session.commit()
        run_id = apply(ids, send="email")
    recipients = sorted(r for m in outbox for r in m.recipients)
    # Every new account once (the teacher too); notify settings add no second message.
    assert recipients == ["ada@home.example", "alan@home.example", "grace@school.example"]
    assert all("/set-password/" in m.body for m in outbox)
    with app.app_context():
        batch = db.session.scalar(select(CredentialBatch))
        assert (batch.kind, batch.channel) == ("link", "email")
        assert batch.idempotency_key == f"import-run:{run_id}"
        assert user("1").password_hash is None  # kept: the file's password was not used


def test_send_email_also_reaches_updated_people_not_yet_using_their_account(app, ids):
    with app.app_context(), mail.record_messages() as outbox:
        # Sent a link last week at an address that bounced; the SIS now has the right one.
        existing(ids, "1", email="ada@old.example", password=None, invited_at=utcnow())
        existing(ids, "2", email="alan@old.example", activated_at=utcnow())
        db.session.commit()
        apply(ids, send="email")
    recipients = sorted(r for m in outbox for r in m.recipients)
    # Ada (updated, never signed in) and the new teacher; Alan is using his account already.
    assert recipients == ["ada@home.example", "grace@school.example"]
    with app.app_context():
        assert user("2").password_hash is not None


@pytest.mark.settings(NOTIFY_NEW_STUDENTS=True)
def test_set_and_print_makes_one_password_batch_for_the_blank_ones_only(app, ids):
    with app.app_context(), mail.record_messages() as outbox:
        run_id = apply(ids, passwords="set", send="print")
    assert outbox == []  # the school's notify setting does not email them as well
    with app.app_context():
        batches = db.session.scalars(select(CredentialBatch)).all()
        assert [(b.kind, b.channel, b.status) for b in batches] == [
            ("password", "print", "awaiting_print")
        ]
        people = set(db.session.scalars(select(Delivery.user_id)))
        assert people == {user("2").id, user("3").id}  # not Ada: her password came from the file
        # A retried after-commit job makes no second batch.
        assert jobs.notify_created_accounts(run_id) == 0
        db.session.commit()
        assert len(db.session.scalars(select(CredentialBatch)).all()) == 1


def test_send_none_leaves_new_accounts_not_sent(app, ids):
    with app.app_context():
        apply(ids, passwords="set")
    with app.app_context():
        assert db.session.scalars(select(CredentialBatch)).all() == []
        assert user("2").state.value == "not_sent"


def test_setting_passwords_and_sending_by_sms_is_refused(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["admin"])
        request = runs.ImportRequest(school_id=ids["school"], passwords="set", send="sms")
        with pytest.raises(PolicyError) as refused:
            runs.start_import("sheet.csv", SHEET.encode(), request, actor=actor)
        assert "never sent by SMS" in " ".join(refused.value.problems)
        assert db.session.scalars(select(ImportRun)).all() == []
        # Links by SMS are fine.
        runs.check_request(runs.ImportRequest(school_id=ids["school"], send="sms"), actor=actor)


@pytest.mark.parametrize("field,value", [("passwords", "email"), ("send", "fax")])
def test_unknown_password_and_send_choices_are_refused(app, ids, field, value):
    with app.app_context():
        actor = db.session.get(User, ids["admin"])
        with pytest.raises(PolicyError):
            runs.check_request(
                runs.ImportRequest(school_id=ids["school"], **{field: value}),
                actor=actor,
            )
