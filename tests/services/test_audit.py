"""The audit trail is append-only, down to the database."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.services import audit


def test_audit_rows_cannot_be_updated_or_deleted(app):
    with app.app_context():
        audit.record("system", "test_event")
        db.session.commit()
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(update(AuditEvent).values(action="edited"))
        db.session.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(delete(AuditEvent))
        db.session.rollback()
        assert db.session.execute(text("SELECT action FROM audit_events")).scalar() == "test_event"


def test_audit_refuses_secret_looking_details(app):
    with app.app_context():
        for key in ("password", "temp_password", "token", "code", "reset_url"):
            with pytest.raises(ValueError):
                audit.record("system", "oops", **{key: "x"})


def test_record_events_writes_many_actions_at_one_time_with_the_request_origin(app):
    from datetime import UTC, datetime

    from sqlalchemy import select

    at = datetime(2026, 9, 1, 7, 30, tzinfo=UTC)
    token = audit.current_origin.set(audit.Origin(ip="10.0.0.9", request_id="req-1"))
    try:
        with app.app_context():
            written = audit.record_events(
                "system",
                [
                    audit.Event("account_deactivated", "user", 11, {"import_run": 3}),
                    audit.Event("credential_issued", "user", 12, {"kind": "temporary_password"}),
                ],
                at=at,
            )
            db.session.commit()
            rows = db.session.execute(
                select(
                    AuditEvent.action,
                    AuditEvent.target_id,
                    AuditEvent.created_at,
                    AuditEvent.ip,
                    AuditEvent.request_id,
                    AuditEvent.details,
                ).order_by(AuditEvent.id)
            ).all()
    finally:
        audit.current_origin.reset(token)
    assert written == 2
    assert [(r.action, r.target_id, r.ip, r.request_id) for r in rows] == [
        ("account_deactivated", 11, "10.0.0.9", "req-1"),
        ("credential_issued", 12, "10.0.0.9", "req-1"),
    ]
    assert {r.created_at for r in rows} == {at}
    assert rows[0].details == {"import_run": 3}


def test_record_events_refuses_secret_looking_details(app):
    with app.app_context():
        with pytest.raises(ValueError):
            audit.record_events("system", [audit.Event("oops", details={"reset_url": "x"})])


def test_only_services_audit_writes_audit_events():
    """No other module inserts AuditEvent rows: they all go through services/audit."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "webapp"
    writers = re.compile(r"insert\(\s*AuditEvent|AuditEvent\.__table__|AuditEvent\(|audit_events")
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.relative_to(root).as_posix() not in ("services/audit.py", "models/audit.py")
        and writers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
