"""Tell a school's admins that a scheduled import failed or stopped at the safety valve."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.imports import states
from webapp.jobs import job
from webapp.models import ImportRun, Role, School, User, user_schools
from webapp.roster.normalise import clean_text
from webapp.services.mail import send_mail


def alert_recipients(school_id: int | None) -> list[str]:
    """Return the emails of the school's admins (district-wide admins if it has none)."""
    admins = select(User.email).where(
        User.role == Role.ADMIN, User.deactivated_at.is_(None), User.email.is_not(None)
    )
    emails: list[str] = []
    if school_id is not None:
        emails = list(
            db.session.scalars(
                admins.join(user_schools, user_schools.c.user_id == User.id).where(
                    user_schools.c.school_id == school_id
                )
            )
        )
    if not emails:
        emails = list(db.session.scalars(admins.where(User.district_wide.is_(True))))
    return sorted(set(emails))


@job
def email_run_alert(run_id: int) -> int:
    """Email the school's admins that a scheduled import failed or stopped."""
    run = db.session.get(ImportRun, run_id)
    if run is None:
        return 0
    recipients = alert_recipients(run.school_id)
    if not recipients:
        return 0
    school = db.session.get(School, run.school_id) if run.school_id else None
    where = clean_text(school.name, 80)[0] if school else "the district"
    stopped = run.status == states.NEEDS_CONFIRMATION
    subject = f"Roster sync {'stopped' if stopped else 'failed'} for {where}"
    lines = [
        f"The scheduled roster import of {run.file_name or 'a file'} for {where} "
        + (
            "stopped: it would remove more of a school's people, classes or class places "
            "than the safety limit allows."
            if stopped
            else "failed, so nothing was changed."
        ),
        "",
        f"Review it here: {current_app.config['BASE_URL'].rstrip('/')}/admin/imports/{run.id}",
    ]
    errors = [p for p in run.row_errors if p.get("severity") == "error"][:10]
    if errors:
        lines += ["", "First problems:"]
        lines += [
            f"- {p.get('file')}"
            + (f", line {p['line']}" if p.get("line") else "")
            + f": {p.get('message')}"
            for p in errors
        ]
    return send_mail(recipients, subject, "\n".join(lines))
