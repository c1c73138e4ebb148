"""Housekeeping, every few minutes: roster sync, batches that go on by themselves, retention.

The thread backend (`make run`) queues `housekeeping` every HOUSEKEEPING_INTERVAL_MINUTES;
with RQ in production, cron runs `flask housekeeping run` instead. Retention (DESIGN.md,
"Retention"; configurable, documented in the README):

- set-password links used, replaced or expired more than RETENTION_TOKEN_DAYS ago;
- parent codes voided or expired more than RETENTION_CODE_DAYS ago;
- server-side sessions past their expiry;
- stored roster uploads older than ROSTER_UPLOAD_RETENTION_HOURS;
- relay-quota records no window counts any more;
- large credential PDFs waiting for download, after PRINT_PENDING_HOURS (24).

SQLite's planner statistics are sampled again on each run (ANALYZE with a limit).

Audit events are kept. Temporary passwords are stored only as hashes on the account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import delete, or_, text

from webapp.delivery import batches, quota
from webapp.extensions import db
from webapp.imports.sync import sync_drop_folders
from webapp.jobs import job
from webapp.models import ParentCode, SessionRecord, SetPasswordToken, utcnow
from webapp.printing.pending import purge_pending_pdfs
from webapp.services import uploads

housekeeping_cli = AppGroup("housekeeping", help="Roster sync, resumes and retention.")


def purge_tokens(now: datetime) -> int:
    """Delete set-password links dead for longer than RETENTION_TOKEN_DAYS."""
    cutoff = now - timedelta(days=current_app.config["RETENTION_TOKEN_DAYS"])
    return _delete(
        SetPasswordToken,
        or_(
            SetPasswordToken.used_at <= cutoff,
            SetPasswordToken.voided_at <= cutoff,
            SetPasswordToken.expires_at <= cutoff,
        ),
    )


def purge_parent_codes(now: datetime) -> int:
    """Delete parent codes dead for longer than RETENTION_CODE_DAYS."""
    cutoff = now - timedelta(days=current_app.config["RETENTION_CODE_DAYS"])
    return _delete(ParentCode, or_(ParentCode.voided_at <= cutoff, ParentCode.expires_at <= cutoff))


def purge_sessions(now: datetime) -> int:
    return _delete(SessionRecord, SessionRecord.expiry <= now)


def _delete(model: type[db.Model], condition) -> int:
    return db.session.execute(delete(model).where(condition)).rowcount or 0


# What retention deletes, in order; each commits before the next.
PURGES: dict[str, Callable[[datetime], int]] = {
    "set-password links": purge_tokens,
    "parent codes": purge_parent_codes,
    "sessions": purge_sessions,
    "roster uploads": lambda now: uploads.purge_uploads(),
    "relay quota records": lambda now: quota.purge(now=now.timestamp()),
    "pending PDFs": purge_pending_pdfs,
}


def purge_all(now: datetime | None = None) -> dict[str, int]:
    """Apply every retention rule; return how many of each went."""
    now = now or utcnow()
    removed = {}
    for name, purge in PURGES.items():
        removed[name] = purge(now)
        db.session.commit()
    return removed


def refresh_statistics() -> int:
    """SQLite: sample the tables again (ANALYZE, a bounded sample of each index) so the
    query planner knows which console filters are selective. PostgreSQL's autovacuum does
    this by itself. Returns how many databases were analysed (0 or 1)."""
    if db.session.get_bind().dialect.name != "sqlite":
        return 0
    db.session.execute(text("PRAGMA analysis_limit = 1000"))
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return 1


@job
def housekeeping() -> dict[str, int]:
    """The periodic job: sync the drop folders, resume due batches, apply retention, and
    refresh the planner's statistics (imports change the tables' make-up)."""
    done = {"roster syncs": len(sync_drop_folders())}
    done["batches resumed"] = len(batches.resume_due())
    db.session.commit()  # the resumed batches' jobs are queued on commit
    done.update(purge_all())
    done["planner statistics"] = refresh_statistics()
    return done


@housekeeping_cli.command("run")
def run_command() -> None:
    """Everything the periodic job does, now (for cron with the RQ backend)."""
    _report(housekeeping())


@housekeeping_cli.command("purge")
def purge_command() -> None:
    """Apply the retention rules now."""
    _report(purge_all())


def _report(done: dict[str, int]) -> None:
    for name, count in done.items():
        click.echo(f"{name}: {count}")
