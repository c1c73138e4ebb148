"""Apply an import in a job, record how it ended, and hand new accounts to delivery."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from webapp.extensions import db
from webapp.imports import alerts
from webapp.imports.files import drop_files
from webapp.imports.fingerprint import db_fingerprint, unchanged_since_last_apply
from webapp.imports.mapping import needs_mapping
from webapp.imports.plan import ImportPlan
from webapp.imports.preview import keep_preview
from webapp.imports.runs import build_plan
from webapp.imports.states import (
    ALERT_STATUSES,
    APPLIED,
    FAILED,
    SKIPPED,
    WRITING,
    require_pending,
)
from webapp.imports.write import apply_plan
from webapp.jobs import enqueue, job
from webapp.models import (
    CredentialBatch,
    ImportCounts,
    ImportRun,
    ImportStage,
    Role,
    User,
)
from webapp.services import audit, uploads
from webapp.services.errors import NotAllowed, PolicyError


def request_apply(
    run: ImportRun, *, actor: User, confirm: bool, skip_errors: bool = False
) -> ImportPlan:
    """Check the plan once more and queue the apply job; the caller commits.

    skip_errors applies everything but the rows in error and what depends on them.
    """
    require_pending(run)
    if needs_mapping(run):
        raise PolicyError(["Choose the columns first."])
    plan = build_plan(run, actor=actor, confirm=confirm, skip_errors=skip_errors)
    if plan.blocking_errors:
        raise PolicyError(
            ["The file has errors that concern the whole file; fix them and upload it again."]
        )
    if not plan.errors_allow_apply:
        raise PolicyError(
            [
                "The file has errors: fix them and upload it again, or tick "
                "“Apply the rest” to leave the rows in error out."
            ]
        )
    if plan.needs_confirmation and not confirm:
        raise PolicyError(["Tick the box to confirm the removals, or upload a complete file."])
    run.request_apply(
        actor_id=actor.id,
        confirm=confirm,
        skip_errors=skip_errors,
        counts=ImportCounts.from_dict(plan.counts()),
    )
    audit.record(
        actor, "import_requested", run, confirm_deactivation=confirm, skip_errors=skip_errors
    )
    db.session.flush()
    enqueue(apply_import, run.id)
    return plan


log = logging.getLogger(__name__)


@job
def apply_import(run_id: int) -> str:
    """Plan the stored upload again and apply it; record how it ended on the run."""
    claimed = ImportRun.claim(run_id)
    db.session.commit()
    if not claimed:
        return "not pending"  # applied already, or picked up by another worker
    run = db.session.get(ImportRun, run_id)
    if unchanged_since_last_apply(run):
        skip_run(run)
        db.session.commit()
        return SKIPPED
    try:
        status = _apply_run(run)
    except Exception as exc:
        db.session.rollback()
        log.exception("import run %s failed", run_id)
        run = db.session.get(ImportRun, run_id)
        run.failed([*run.row_errors, _note(f"The import stopped: {type(exc).__name__}.")])
        db.session.commit()
        return FAILED
    return status


def _note(message: str, severity: str = "error") -> dict[str, Any]:
    return {
        "severity": severity,
        "file": "upload",
        "line": None,
        "column": None,
        "message": message,
    }


def _apply_run(run: ImportRun) -> str:
    """Apply one claimed run and commit; returns the status it ended with."""
    actor = db.session.get(User, run.requested_by_id) if run.requested_by_id else None
    if actor is None or actor.role != Role.ADMIN or actor.deactivated_at is not None:
        return _fail(run, [_note("The admin who asked for this import is gone.")])

    def stage(name: ImportStage) -> None:
        # Committed at once so the page can show it; each step's own work is still all or
        # nothing (nothing is written before the last step, which commits in one go).
        run.enter(name)
        db.session.commit()

    try:
        plan = build_plan(
            run,
            actor=actor,
            confirm=run.confirm_deactivation,
            on_stage=stage,
        )
    except uploads.UploadMissing:
        return _fail(run, [_note("The uploaded file has expired; upload it again.")])
    except NotAllowed:
        return _fail(run, [_note("The file names a school outside your schools.")])
    run.counts = ImportCounts.from_dict(plan.counts())
    if not plan.errors_allow_apply:
        return _fail(run, [p.as_dict() for p in plan.problems])
    if plan.needs_confirmation and not plan.options.confirm_deactivation:
        run.needs_confirmation([p.as_dict() for p in plan.problems], stopped=True)
        # The admin comes back to the preview: keep it, so that page view only reads.
        keep_preview(run, plan, actor=actor)
        return _ended(run)
    stage(WRITING)
    finish_apply(run, plan, actor=actor)
    db.session.commit()
    return APPLIED


def finish_apply(run: ImportRun, plan: ImportPlan, *, actor: User) -> None:
    """Apply a plan onto its run, drop the upload and queue the new-accounts hook."""
    apply_plan(plan, actor=actor, run=run)
    run.db_fingerprint = db_fingerprint(run.source)
    run.next_leave_date = plan.roster.next_leave_date
    drop_files(run)
    if run.send != "none" and run.passwords == "keep":
        # Updated people are sent a fresh link too (a changed address has killed the old
        # one); delivery leaves out anyone already using their account.
        run.updated_ids = sorted({c.user_id for c in plan.updated + plan.reactivate if c.user_id})
    if plan.created_user_ids or run.updated_ids:
        enqueue(notify_created_accounts, run.id)


def refuse_run(run: ImportRun, problems: Sequence[str]) -> str:
    """End a run that cannot go on without an admin's answer, saying why; commits."""
    return _fail(run, [_note(problem) for problem in problems])


def skip_run(run: ImportRun) -> None:
    """Record a run as skipped because nothing in it is new; caller commits."""
    drop_files(run)
    run.skipped()


def _fail(run: ImportRun, problems: list[dict[str, Any]]) -> str:
    """End a run that changed nothing, drop its files and say why; commits."""
    run.failed(problems)
    drop_files(run)
    return _ended(run)


def _ended(run: ImportRun) -> str:
    """Alert a sync's admins when its run failed or stopped; commits."""
    if run.status in ALERT_STATUSES and run.origin.startswith("sync"):
        enqueue(alerts.email_run_alert, run.id)
    db.session.commit()
    return run.status


def created_user_ids(run: ImportRun) -> list[int]:
    """Return the students and parents this run created (apply stamps them with its time)."""
    if run.finished_at is None:
        return []
    return list(
        db.session.scalars(
            select(User.id).where(
                User.source == run.source,
                User.created_at == run.finished_at,
                User.role.in_((Role.STUDENT.value, Role.PARENT.value)),
            )
        )
    )


def on_accounts_created(user_ids: Sequence[int], actor: User) -> None:
    """Hand accounts an import created to credential delivery; the caller commits.

    The one place the importer meets delivery: the school's notify settings decide whether
    new students and parents get credentials at once or stay "not sent".
    """
    from webapp.delivery.batches import notify_new_accounts

    if user_ids:
        notify_new_accounts(list(user_ids), actor)


def send_to_created_accounts(run: ImportRun, actor: User, channel: str) -> int:
    """Send the accounts this run created their credentials, as chosen at upload.

    One batch over the new accounts that got no password from the file (the admin holds
    those): a temporary password when the run sets passwords (blank = generate one), else a
    set-password link, which then also goes to the people the run updated who are not using
    their account yet. The key comes from the run, so a retried job makes one batch. The
    caller commits; returns how many people the batch covers.
    """
    from webapp.delivery.batches import send_credentials

    key = f"import-run:{run.id}"
    if db.session.scalar(select(CredentialBatch.id).where(CredentialBatch.idempotency_key == key)):
        return 0  # this job ran already
    ids = list(
        db.session.scalars(
            select(User.id)
            .where(
                User.source == run.source,
                User.created_at == run.finished_at,
                User.password_hash.is_(None),
                User.invited_at.is_(None),
                User.deactivated_at.is_(None),
            )
            .order_by(User.id)
        )
    )
    kind = "password" if run.passwords == "set" else "link"
    if kind == "link":
        ids = sorted(set(ids) | set(run.updated_ids))
    if not ids:
        return 0
    batch = send_credentials(
        ids, kind, channel, {"idempotency_key": key, "school_id": run.school_id}, actor
    )
    return batch.total


@job
def notify_created_accounts(run_id: int) -> int:
    """Offer the accounts an applied run created to delivery, after the apply committed.

    With a send channel chosen at upload, they get one batch by it (and the school's notify
    settings are not applied as well: nobody gets two messages); without, the notify
    settings decide.
    """
    run = db.session.get(ImportRun, run_id)
    if run is None or run.status != APPLIED or run.requested_by_id is None:
        return 0
    actor = db.session.get(User, run.requested_by_id)
    channel = run.send
    if channel != "none":
        if actor is None or actor.role != Role.ADMIN or actor.deactivated_at is not None:
            return 0
        sent = send_to_created_accounts(run, actor, channel)
        db.session.commit()
        return sent
    from webapp.delivery.batches import notifies_new_accounts

    if not notifies_new_accounts():
        return 0  # the default: nobody is told until an admin sends
    ids = created_user_ids(run)
    if actor is None or not ids:
        return 0
    on_accounts_created(ids, actor)
    db.session.commit()
    return len(ids)
