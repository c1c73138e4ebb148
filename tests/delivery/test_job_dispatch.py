"""Jobs queued in a transaction run only after the outermost commit, not a savepoint's."""

from __future__ import annotations

from webapp.extensions import db
from webapp.jobs import enqueue, pending
from webapp.jobs.system import heartbeat


def test_releasing_a_savepoint_does_not_dispatch_jobs(app, monkeypatch):
    ran: list[str] = []
    backend = app.extensions["keyslip_jobs"]
    monkeypatch.setattr(backend, "submit", lambda name, args, origin=None: ran.append(name))
    with app.app_context():
        enqueue(heartbeat, "outer")
        with db.session.begin_nested():
            enqueue(heartbeat, "inner")
        assert ran == []
        assert len(pending()) == 2
        db.session.commit()
    assert ran == ["webapp.jobs.system.heartbeat"] * 2
