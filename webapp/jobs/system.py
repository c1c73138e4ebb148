"""Housekeeping jobs."""

from __future__ import annotations

from sqlalchemy import delete

from webapp.extensions import db
from webapp.jobs import job
from webapp.models import SessionRecord, utcnow
from webapp.services import audit


@job
def heartbeat(label: str) -> None:
    """Write an audit row, proving the job system runs jobs end to end."""
    audit.record(audit.SYSTEM, "job_heartbeat", label=label)
    db.session.commit()


@job
def purge_expired_sessions() -> int:
    """Delete server-side sessions past their expiry."""
    result = db.session.execute(delete(SessionRecord).where(SessionRecord.expiry <= utcnow()))
    db.session.commit()
    return result.rowcount or 0
