"""The import service: the apply job's outcomes, the hook for new accounts, run scope."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp.extensions import db, mail
from webapp.imports import fingerprint, history, jobs, mapping, preview, runs
from webapp.models import CredentialBatch, ImportRun, Role, School, User
from webapp.services import uploads
from webapp.services.errors import NotAllowed, PolicyError

SHEET = (
    "ID,First Name,Last Name,Role,Child ID\n"
    "1,Ada,Lovelace,student,\n2,Alan,Turing,teacher,\n3,Mum,Lovelace,parent,1\n"
)


@pytest.fixture
def ids(app) -> dict[str, int]:
    with app.app_context():
        a, b = make_school("Alpha"), make_school("Beta")
        admin_a = make_user(Role.ADMIN, school=a, username="admin.a")
        admin_b = make_user(Role.ADMIN, school=b, username="admin.b")
        db.session.commit()
        return {"a": a.id, "b": b.id, "admin_a": admin_a.id, "admin_b": admin_b.id}


def queued_run(ids, data: str = SHEET) -> int:
    actor = db.session.get(User, ids["admin_a"])
    run = runs.start_import(
        "sheet.csv", data.encode(), runs.ImportRequest(school_id=ids["a"]), actor=actor
    )
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    jobs.request_apply(run, actor=actor, confirm=False)
    return run.id


@pytest.mark.settings(NOTIFY_NEW_STUDENTS=True, NOTIFY_NEW_PARENTS=True)
def test_new_students_and_parents_get_credentials_after_the_import_commits(app, ids):
    sheet = (
        "ID,First Name,Last Name,Role,Email,Child ID\n"
        "1,Ada,Lovelace,student,ada@home.example,\n2,Alan,Turing,teacher,alan@school.example,\n"
        "3,Mum,Lovelace,parent,mum@home.example,1\n"
    )
    with app.app_context(), mail.record_messages() as outbox:
        run_id = queued_run(ids, sheet)
        assert db.session.scalar(select(func.count(CredentialBatch.id))) == 0
        db.session.commit()  # the inline backend runs the apply job, then the notification
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "applied"
        states = {u.username: u.state.value for u in db.session.scalars(select(User))}
    assert sorted(r for m in outbox for r in m.recipients) == [
        "ada@home.example",
        "mum@home.example",
    ]
    assert states["alan.turing"] == "not_sent"  # teachers are not notified automatically
    assert states["ada.lovelace"] == "invited"


def test_by_default_new_accounts_stay_not_sent(app, ids):
    with app.app_context():
        queued_run(ids)
        db.session.commit()
    with app.app_context():
        states = {
            u.state.value for u in db.session.scalars(select(User).where(User.role != "admin"))
        }
        assert states == {"not_sent"}


def test_an_expired_upload_fails_the_run_and_changes_nothing(app, ids, monkeypatch):
    with app.app_context():
        run_id = queued_run(ids)
        uploads.delete_upload(db.session.get(ImportRun, run_id).upload_key)
        db.session.commit()
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.status == "failed" and "expired" in run.row_errors[0]["message"]
        assert db.session.scalar(select(func.count()).where(User.role == "student")) == 0


def test_a_crash_in_apply_marks_the_run_failed(app, ids, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs, "apply_plan", boom)
    with app.app_context():
        run_id = queued_run(ids)
        db.session.commit()
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.status == "failed" and run.finished_at is not None
        assert "RuntimeError" in run.row_errors[-1]["message"]
        assert db.session.scalar(select(func.count()).where(User.role == "student")) == 0


def test_the_apply_job_runs_once(app, ids):
    with app.app_context():
        run_id = queued_run(ids)
        db.session.commit()
    with app.app_context():
        assert jobs.apply_import(run_id) == "not pending"
        assert db.session.scalar(select(func.count()).where(User.role == "student")) == 1


def test_runs_are_scoped_to_the_admins_schools(app, ids):
    with app.app_context():
        run_id = queued_run(ids)
        db.session.commit()
    with app.app_context():
        admin_b = db.session.get(User, ids["admin_b"])
        with pytest.raises(NotAllowed):
            history.require_run(admin_b, run_id)
        assert history.require_run(db.session.get(User, ids["admin_a"]), run_id).id == run_id


def test_a_file_cannot_update_someone_at_another_school(app, ids):
    with app.app_context():
        make_user(Role.STUDENT, school=db.session.get(type(make_school()), ids["b"]),
                  username="beta.kid", source="csv:shared", sourced_id="1")  # fmt: skip
        db.session.commit()
        actor = db.session.get(User, ids["admin_a"])
        request = runs.ImportRequest(school_id=ids["a"], source="csv:shared")
        run = runs.start_import("s.csv", SHEET.encode(), request, actor=actor)
        run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
        plan = runs.build_plan(run, actor=actor)
        assert any("outside yours" in p.message for p in plan.errors)


# Leaving dates whose day/month order only the admin can tell ---------------------------------

DATED = (
    "ID,First Name,Last Name,Role,Leaving Date\n"
    "1,Ada,Lovelace,student,03/04/2001\n2,Alan,Turing,student,\n"
)


def dated_run(ids, date_order: str | None = None, data: str = DATED) -> ImportRun:
    actor = db.session.get(User, ids["admin_a"])
    request = runs.ImportRequest(school_id=ids["a"], date_order=date_order)
    run = runs.start_import("sheet.csv", data.encode(), request, actor=actor)
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    return run


def test_ambiguous_dates_block_applying_until_the_order_is_chosen(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = dated_run(ids)
        view = preview.preview(run, actor=actor)
        assert view.date_question.order is None and view.errors
        assert [(o, shown) for o, _, shown in view.date_choices] == [
            ("DMY", "3 April 2001"),
            ("MDY", "4 March 2001"),
        ]
        with pytest.raises(PolicyError):
            jobs.request_apply(run, actor=actor, confirm=False)
        mapping.choose_date_order(run, "MDY", actor=actor)
        assert preview.preview(run, actor=actor).errors == 0
        jobs.request_apply(run, actor=actor, confirm=False)
        run_id = run.id
        db.session.commit()  # the inline backend applies, re-reading the stored order
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.status == "applied" and run.date_order == "MDY"
        # Ada left in 2001, so she was never created.
        assert db.session.scalars(select(User.sourced_id).where(User.role == "student")).all() == [
            "2"
        ]


def test_the_upload_request_carries_the_date_order(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = dated_run(ids, date_order="DMY")
        view = preview.preview(run, actor=actor)
        assert view.errors == 0 and view.date_question.order == "DMY"


def test_the_chosen_date_order_is_remembered_for_the_schools_next_imports(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        mapping.choose_date_order(dated_run(ids), "MDY", actor=actor)
        # The next upload (or a scheduled sync, which cannot ask) reads the dates that way.
        view = preview.preview(dated_run(ids), actor=actor)
        assert view.errors == 0 and view.date_question.order == "MDY"
        # Another school's files are still asked about.
        other = runs.start_import(
            "sheet.csv",
            DATED.encode(),
            runs.ImportRequest(school_id=ids["b"]),
            actor=db.session.get(User, ids["admin_b"]),
        )
        assert other.date_order is None


def test_an_unknown_date_order_is_refused(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        with pytest.raises(PolicyError):
            dated_run(ids, date_order="YMD")
        run = dated_run(ids)
        with pytest.raises(PolicyError):
            mapping.choose_date_order(run, "ymd", actor=actor)


def test_an_unchanged_file_is_not_skipped_once_a_leaving_date_in_it_has_come(app, ids):
    future = DATED.replace("03/04/2001", "2999-07-31")
    with app.app_context():
        queued_run(ids, future)
        db.session.commit()
    with app.app_context():
        first = db.session.scalar(select(ImportRun))
        assert first.status == "applied" and first.next_leave_date == date(2999, 7, 31)
        again = dated_run(ids, data=future)
        assert fingerprint.unchanged_since_last_apply(again)
        # The same file, read on or after Ada's leaving date, would deactivate her.
        first.next_leave_date = date(2001, 1, 1)
        db.session.flush()
        assert not fingerprint.unchanged_since_last_apply(again)


# The preview keeps every tab, encrypted, until something it depends on moves ---------------


def previewed_run(ids) -> ImportRun:
    actor = db.session.get(User, ids["admin_a"])
    run = runs.start_import(
        "sheet.csv", SHEET.encode(), runs.ImportRequest(school_id=ids["a"]), actor=actor
    )
    run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
    return run


@pytest.fixture
def plans(monkeypatch) -> list[int]:
    """Count how often the upload is read and planned."""
    calls: list[int] = []
    real = runs.build_plan

    def counting(run, **kwargs):
        calls.append(run.id)
        return real(run, **kwargs)

    # Each place that plans looks build_plan up in its own module.
    for module in (jobs, preview):
        monkeypatch.setattr(module, "build_plan", counting)
    return calls


def test_the_next_tab_reads_the_kept_preview_instead_of_planning_again(app, ids, plans):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = previewed_run(ids)
        preview.refresh(run, actor=actor)  # as the POST that chose the columns does
        first = preview.preview(run, actor=actor, tab="new")
        problems = preview.preview(run, actor=actor, tab="problems")
        again = preview.preview(run, actor=actor, tab="new")
        assert len(plans) == 1
        assert again.rows == first.rows and [r["name"] for r in first.rows] == [
            "Ada Lovelace",
            "Alan Turing",
            "Mum Lovelace",
        ]
        assert problems.tab == "problems" and again.counts == first.counts
        # Kept encrypted: no name from the file is readable on disk.
        stored = uploads._path(run.preview_key).read_bytes()
        assert b"Lovelace" not in stored


def test_a_preview_nobody_kept_is_planned_in_memory_and_kept_nowhere(app, ids, plans):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = previewed_run(ids)
        db.session.commit()
        view = preview.preview(run, actor=actor)
        preview.preview(run, actor=actor, tab="problems")
        assert len(plans) == 2 and view.counts["new"] == 3
        assert run.counts is None and run.preview_key is None
        assert not db.session.dirty and not db.session.new


def test_the_preview_is_planned_again_when_its_inputs_move(app, ids, plans):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = previewed_run(ids)
        preview.refresh(run, actor=actor)
        preview.preview(run, actor=actor, tab="problems")
        assert len(plans) == 1
        # A new account anywhere may now own a username the file's people were to get.
        make_user(Role.STUDENT, username="ada.lovelace", school=db.session.get(School, ids["a"]))
        view = preview.preview(run, actor=actor)
        assert len(plans) == 2 and view.rows[0]["username"] != "ada.lovelace"
        mapping.choose_date_order(run, "DMY", actor=actor)
        preview.preview(run, actor=actor)
        assert len(plans) == 3  # the run's options changed
        district = make_user(Role.ADMIN, district_wide=True)
        preview.preview(run, actor=district)
        assert len(plans) == 4  # another admin sees through their own scope


def test_an_edit_in_keyslip_makes_the_preview_plan_again(app, ids, plans):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        first = previewed_run(ids)
        jobs.request_apply(first, actor=actor, confirm=False)
        db.session.commit()  # applied by the inline backend
        run = previewed_run(ids)
        preview.refresh(run, actor=actor)
        assert preview.preview(run, actor=actor, tab="changed").rows == []
        ada = db.session.scalar(select(User).where(User.sourced_id == "1"))
        ada.given_name = "Ann"
        db.session.flush()
        changed = preview.preview(run, actor=actor, tab="changed")
        assert [r["changes"] for r in changed.rows] == [[["given_name", "Ann", "Ada"]]]


def test_a_finished_run_leaves_no_preview_behind(app, ids):
    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = previewed_run(ids)
        preview.refresh(run, actor=actor)
        kept = uploads._path(run.preview_key)
        assert kept.exists()
        jobs.request_apply(run, actor=actor, confirm=False)
        run_id = run.id
        db.session.commit()
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.status == "applied" and run.preview_key is None
        assert not kept.exists()


def test_the_apply_job_reports_each_step_as_it_starts(app, ids, monkeypatch):
    seen: list[tuple[str | None, str | None]] = []
    real_commit = db.session.commit

    def watching_commit():
        real_commit()
        # What another request (the polling page) sees after each commit.
        with db.engine.connect() as other:
            row = other.execute(
                select(ImportRun.status, ImportRun.stage).order_by(ImportRun.id.desc())
            ).first()
        if row and row.status == "running" and (not seen or seen[-1] != tuple(row)):
            seen.append(tuple(row))

    with app.app_context():
        actor = db.session.get(User, ids["admin_a"])
        run = previewed_run(ids)
        jobs.request_apply(run, actor=actor, confirm=False)
        monkeypatch.setattr(db.session, "commit", watching_commit)
        db.session.commit()  # the inline backend runs the apply job now
        assert [stage for _, stage in seen] == [None, "reading", "checking", "writing"]
        run = db.session.get(ImportRun, run.id)
        assert run.status == "applied" and run.stage is None
