"""Jobs run only after the transaction that queued them commits."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import select

from webapp import jobs
from webapp.extensions import db
from webapp.jobs import system
from webapp.models import AuditEvent, Role, User
from webapp.services.audit import Origin, current_origin


def origins(app) -> list[tuple[str | None, str | None]]:
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "job_heartbeat")
        ).all()
        return [(e.ip, e.request_id) for e in events]


def queued_from_a_request(app, label: str) -> None:
    """Queue a heartbeat as a request at 203.0.113.9 would, and commit."""
    token = current_origin.set(Origin(ip="203.0.113.9", request_id="req-0001"))
    try:
        with app.app_context():
            jobs.enqueue(system.heartbeat, label)
            db.session.commit()
    finally:
        current_origin.reset(token)


def heartbeats(app) -> list[str]:
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "job_heartbeat")
        ).all()
        return [e.details["label"] for e in events]


def test_a_committed_job_runs(app):
    with app.app_context():
        jobs.enqueue(system.heartbeat, "after-commit")
        assert heartbeats(app) == []
        db.session.commit()
    assert heartbeats(app) == ["after-commit"]


def test_a_jobs_audit_rows_carry_the_queuing_requests_ip_and_request_id(app):
    queued_from_a_request(app, "from-a-request")
    assert origins(app) == [("203.0.113.9", "req-0001")]


@pytest.mark.settings(JOBS_BACKEND="thread")
def test_the_thread_backend_keeps_the_queuing_requests_origin(app):
    queued_from_a_request(app, "threaded")
    app.extensions["keyslip_jobs"].join()
    assert origins(app) == [("203.0.113.9", "req-0001")]


def test_a_rollback_drops_queued_jobs(app):
    with app.app_context():
        jobs.enqueue(system.heartbeat, "rolled-back")
        db.session.rollback()
        db.session.commit()
    assert heartbeats(app) == []


def test_jobs_take_plain_values_only(app):
    with app.app_context(), pytest.raises(TypeError):
        jobs.enqueue(system.heartbeat, User(role=Role.STUDENT))


def test_unregistered_functions_are_refused(app):
    def not_a_job() -> None: ...

    with app.app_context(), pytest.raises(ValueError):
        jobs.enqueue(not_a_job)


@pytest.mark.settings(JOBS_BACKEND="thread")
def test_thread_backend_runs_jobs_in_the_background(app):
    with app.app_context():
        jobs.enqueue(system.heartbeat, "threaded")
        db.session.commit()
    app.extensions["keyslip_jobs"].join()
    assert heartbeats(app) == ["threaded"]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (CI sets it)")
def test_rq_backend_runs_a_job_through_real_redis_and_a_real_worker(app):
    from redis import Redis
    from rq import Queue, SimpleWorker

    from webapp.jobs import worker

    queue_name = f"keyslip-test-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=os.environ["REDIS_URL"], JOBS_QUEUE=queue_name)
    app.extensions["keyslip_jobs"] = jobs.RQBackend(app)
    with app.app_context():
        jobs.enqueue(system.heartbeat, "through-redis")
        db.session.commit()
    connection = Redis.from_url(os.environ["REDIS_URL"])
    queue = Queue(queue_name, connection=connection)
    assert queue.count == 1
    # The payload carries the job name and ids only.
    assert queue.jobs[0].args == ("webapp.jobs.system.heartbeat", "through-redis")
    worker.use_app(app)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert heartbeats(app) == ["through-redis"]
    queued_from_a_request(app, "through-redis-from-a-request")
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert origins(app)[-1] == ("203.0.113.9", "req-0001")
    queue.delete(delete_jobs=True)
