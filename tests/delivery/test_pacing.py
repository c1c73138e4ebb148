"""Relay quotas through the batch job: pacing, the daily stop, next-day resume, the ETA.

Every wait moves the test's clock (the `clock` fixture); nothing sleeps in real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.delivery.conftest import make_district
from tests.delivery.test_smtp import _assert_each_once, _batch, _send, _statuses
from webapp.delivery import batches
from webapp.delivery.progress import batch_progress
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, User


def _arrivals(smtp_server) -> list[datetime]:
    times: list[datetime] = []
    smtp_server.on_message = lambda count: times.append(datetime.now(UTC))
    return times


def test_a_30_a_minute_quota_sends_30_in_the_first_minute_and_the_rest_later(
    backend, smtp_app, smtp_server, clock
):
    smtp_app.config["MAIL_RATE_LIMIT"] = "30 per minute"
    district = make_district(smtp_app, 45)
    arrivals = _arrivals(smtp_server)
    start = datetime.now(UTC)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 45)
    assert _statuses(smtp_app, batch_id) == {"sent": 45}
    assert sum(t < start + timedelta(minutes=1) for t in arrivals) == 30
    # No minute, wherever it starts, carries more than 30 (slots are counted when taken, a
    # moment before the server has the message: allow that moment).
    for n, first in enumerate(arrivals):
        within = first + timedelta(seconds=59)
        assert sum(first <= t < within for t in arrivals[n:]) <= 30
    assert sum(clock.waits) >= 55  # it waited for the window, on the moved clock


def test_a_spent_daily_quota_pauses_the_batch_until_the_next_day_then_it_goes_on_by_itself(
    backend, smtp_app, smtp_server, clock
):
    smtp_app.config["MAIL_RATE_LIMIT"] = "30 per minute; 40 per day"
    district = make_district(smtp_app, 50)
    start = datetime.now(UTC)
    batch_id = _send(smtp_app, district)
    assert _statuses(smtp_app, batch_id) == {"sent": 40, "queued": 10}
    batch = _batch(smtp_app, batch_id)
    assert batch.status == "paused"
    assert "email quota is spent until" in batch.error
    assert start + timedelta(hours=23) < batch.resume_at.replace(tzinfo=UTC)
    with smtp_app.app_context():
        progress = batch_progress(db.session.get(CredentialBatch, batch_id))
        assert progress.waiting == 10
        assert progress.finish_estimate >= batch.resume_at  # after the quota renews

        assert batches.resume_due() == []  # not before its time
        clock.traveller.shift(batch.resume_at.replace(tzinfo=UTC) - datetime.now(UTC))
        clock.traveller.shift(timedelta(seconds=1))
        assert batches.resume_due() == [batch_id]
        db.session.commit()  # the queued job runs (inline backend)
    _assert_each_once(smtp_server, 50)
    assert _batch(smtp_app, batch_id).status == "done"
    with smtp_app.app_context():
        paused = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "batch_paused")
        ).all()
        assert [e.details["status"] for e in paused] == ["paused"]


def test_batches_share_one_quota(backend, smtp_app, smtp_server):
    smtp_app.config["MAIL_RATE_LIMIT"] = "5 per day"
    district = make_district(smtp_app, 8)
    with smtp_app.app_context():
        actor = db.session.get(User, district.admin_id)
        first = batches.send_credentials(district.student_ids[:4], "link", "email", {}, actor)
        db.session.commit()
        second = batches.send_credentials(district.student_ids[4:], "link", "email", {}, actor)
        db.session.commit()
        first_id, second_id = first.id, second.id
    assert _statuses(smtp_app, first_id) == {"sent": 4}
    assert _statuses(smtp_app, second_id) == {"sent": 1, "queued": 3}
    assert len(smtp_server.messages) == 5
    assert _batch(smtp_app, second_id).status == "paused"
