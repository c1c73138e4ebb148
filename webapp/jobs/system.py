"""System jobs: the heartbeat that proves jobs run end to end."""

from __future__ import annotations

from webapp.extensions import db
from webapp.jobs import job
from webapp.services import audit


@job
def heartbeat(label: str) -> None:
    """Write an audit row, proving the job system runs jobs end to end."""
    audit.record(audit.SYSTEM, "job_heartbeat", label=label)
    db.session.commit()
