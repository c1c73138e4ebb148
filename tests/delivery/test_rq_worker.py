"""A batch through real Redis and a real RQ worker to a real local SMTP server."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from sqlalchemy import select

from tests.delivery.conftest import make_district
from webapp.delivery import batches
from webapp.extensions import db
from webapp.models import Delivery, User

REDIS_URL = os.environ.get("REDIS_URL")
# A database number and queue of our own, so other suites on the same Redis are untouched.
TEST_REDIS = f"{REDIS_URL.rsplit('/', 1)[0]}/3" if REDIS_URL else None
QUEUE = "keyslip-delivery-test"

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL to run against Redis")


@pytest.mark.settings(JOBS_BACKEND="rq", REDIS_URL=TEST_REDIS, JOBS_QUEUE=QUEUE)
def test_batch_runs_on_an_rq_worker_and_every_message_arrives_once(smtp_app, smtp_server):
    from redis import Redis
    from rq import Queue, SimpleWorker

    from webapp.jobs import worker

    redis = Redis.from_url(TEST_REDIS)
    redis.flushdb()
    queue = Queue(QUEUE, connection=redis)
    district = make_district(smtp_app, 12)
    with smtp_app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, actor)
        db.session.commit()
        batch_id = batch.id

    assert smtp_server.messages == []  # queued, not run in the request
    [job] = queue.jobs
    assert job.args == ("webapp.delivery.jobs.process_batch", batch_id)

    worker.use_app(smtp_app)
    SimpleWorker([queue], connection=redis).work(burst=True)

    per_recipient = Counter(r for m in smtp_server.messages for r in m.recipients)
    assert per_recipient == Counter({f"student{n}@families.example": 1 for n in range(12)})
    with smtp_app.app_context():
        statuses = Counter(
            db.session.scalars(select(Delivery.status).where(Delivery.batch_id == batch_id))
        )
        assert statuses == {"sent": 12}

    links = {m.link.rsplit("/", 1)[1] for m in smtp_server.messages}
    stored = b"".join(redis.dump(key) or b"" for key in redis.scan_iter())
    assert stored, "RQ left its job records in Redis"
    assert not [token for token in links if token.encode() in stored]
    redis.flushdb()
