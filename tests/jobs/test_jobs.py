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
    queue.delete(delete_jobs=True)
