"""An import run's one state machine: known statuses, legal moves only, typed fields."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.factories import make_school, make_user
from webapp.extensions import db
from webapp.imports import mapping, runs
from webapp.models import (
    ImportCounts,
    ImportRun,
    ImportRunStateError,
    ImportRunStatus,
    ImportStage,
    Role,
)

SHEET = "ID,First Name,Last Name,Role\n1,Ada,Lovelace,student\n2,Alan,Turing,teacher\n"


def new_run() -> ImportRun:
    run = ImportRun(source="sis", format="oneroster", mode="add-update", row_errors=[])
    db.session.add(run)
    db.session.flush()
    return run


def test_a_run_moves_from_preview_to_applied_one_step_at_a_time(app):
    with app.app_context():
        admin = make_user(Role.ADMIN, district_wide=True)
        run = new_run()
        assert run.status is ImportRunStatus.PENDING and run.previewable and not run.busy
        run.previewed(ImportCounts(new=2), [])
        run.request_apply(actor_id=admin.id, confirm=True, skip_errors=False, counts=run.counts)
        assert run.busy and not run.previewable and run.confirm_deactivation
        db.session.commit()
        assert ImportRun.claim(run.id) is True
        assert ImportRun.claim(run.id) is False  # a second worker finds it taken
        db.session.commit()
        db.session.refresh(run)
        assert run.status is ImportRunStatus.RUNNING and run.started_at is not None
        for stage in ImportStage:
            run.enter(stage)
        run.applied(ImportCounts(new=2), [], run.started_at)
        db.session.commit()
        db.session.expire_all()
        again = db.session.get(ImportRun, run.id)
        assert (again.status, again.stage, again.dry_run) == (ImportRunStatus.APPLIED, None, False)
        assert again.counts == ImportCounts(new=2) and again.counts["new"] == 2


@pytest.mark.parametrize(
    "move",
    [
        lambda run: run.applied(ImportCounts(), [], run.created_at),
        lambda run: run.enter(ImportStage.WRITING),
        lambda run: run.request_apply(
            actor_id=1, confirm=False, skip_errors=False, counts=ImportCounts()
        ),
        lambda run: run.queue(),
        lambda run: run.previewed(ImportCounts(), []),
        lambda run: run.failed([]),
        lambda run: run.skipped(),
        lambda run: run.needs_confirmation([], stopped=True),
        lambda run: run.start(),
    ],
)
def test_a_finished_run_refuses_every_move(app, move):
    with app.app_context():
        run = new_run()
        run.skipped()
        with pytest.raises(ImportRunStateError, match="skipped"):
            move(run)
        assert run.status is ImportRunStatus.SKIPPED


def test_a_preview_cannot_be_written_without_being_started(app):
    with app.app_context():
        run = new_run()
        with pytest.raises(ImportRunStateError, match="pending: it cannot be applied"):
            run.applied(ImportCounts(), [], run.created_at)
        with pytest.raises(ImportRunStateError):
            run.enter(ImportStage.READING)
        run.start()
        run.enter(ImportStage.READING)
        assert run.stage is ImportStage.READING and not run.dry_run


def test_a_run_stopped_at_the_safety_valve_is_a_preview_again(app):
    with app.app_context():
        run = new_run()
        run.queue()
        db.session.commit()
        assert ImportRun.claim(run.id)
        db.session.refresh(run)
        run.needs_confirmation([{"severity": "warning"}], stopped=True)
        assert run.previewable and run.finished_at is not None and run.stage is None


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "done"), ("stage", "sleeping"), ("passwords", "maybe"), ("send", "fax"),
     ("date_order", "YMD")],
)  # fmt: skip
def test_the_database_refuses_an_unknown_status_stage_or_choice(app, column, value):
    with app.app_context():
        run_id = new_run().id
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(f"UPDATE import_runs SET {column} = :value WHERE id = :id"),
                {"value": value, "id": run_id},
            )
        db.session.rollback()


def test_import_counts_hold_every_count_a_plan_gives(app):
    with app.app_context():
        school = make_school("Oak")
        actor = make_user(Role.ADMIN, school=school)
        request = runs.ImportRequest(school_id=school.id)
        run = runs.start_import("people.csv", SHEET.encode(), request, actor=actor)
        run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
        counts = runs.build_plan(run, actor=actor).counts()
    fields = {field.name for field in dataclasses.fields(ImportCounts)}
    assert set(counts) <= fields, f"add {set(counts) - fields} to ImportCounts"
    assert ImportCounts.from_dict(counts).as_dict() == {**dict.fromkeys(fields, 0), **counts}


def test_the_choices_are_typed_columns_and_options_keep_only_the_columns_mapping(app):
    with app.app_context():
        school = make_school("Oak")
        actor = make_user(Role.ADMIN, school=school)
        request = runs.ImportRequest(
            school_id=school.id, passwords="set", send="print", skip_errors=True, has_header=False
        )
        run = runs.start_import("people.csv", SHEET.encode(), request, actor=actor, origin="cli")
        db.session.commit()
        assert (run.origin, run.file_name, run.passwords, run.send, run.skip_errors) == (
            "cli",
            "people.csv",
            "set",
            "print",
            True,
        )
        assert run.upload_bytes == len(SHEET.encode()) and len(run.upload_sha256) == 64
        assert run.options == {"has_header": False} and run.counts is None


# What may change a run's state, and from where ------------------------------------------------

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
STATE_WRITE = re.compile(
    r"\brun\.(status|stage|dry_run|counts|row_errors|finished_at|started_at)\s*=[^=]"
    r"|\brun\.(request_apply|claim|start|enter|applied|failed|needs_confirmation|skipped"
    r"|queue|previewed)\("
    r"|update\(ImportRun\)"
)


def test_nothing_outside_the_import_package_changes_a_runs_state():
    offenders = [
        str(path.relative_to(WEBAPP))
        for path in WEBAPP.rglob("*.py")
        if path.relative_to(WEBAPP).parts[0] not in ("imports", "models")
        and STATE_WRITE.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_status_and_stage_are_written_only_by_the_runs_own_methods():
    """Inside the package too: no module sets a run's status or stage by hand."""
    by_hand = re.compile(r"\.(status|stage)\s*=[^=]")
    offenders = [
        str(path.relative_to(WEBAPP))
        for path in (WEBAPP / "imports").rglob("*.py")
        if by_hand.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
