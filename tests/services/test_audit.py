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
