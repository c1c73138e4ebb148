"""Real SMTP to a local aiosmtpd server: refusals, 421s, drops, an outage, and resuming."""

from __future__ import annotations

import socket
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from tests.delivery.conftest import District, SmtpSink, _Controller, make_district
from webapp.delivery import batches, links
from webapp.delivery.links import LinkStatus
from webapp.extensions import db, mail
from webapp.models import AuditEvent, CredentialBatch, Delivery, User, utcnow


def _send(app, district: District, **options) -> int:
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", options, actor)
        db.session.commit()
        return batch.id


def _resume(app, district: District, batch_id: int) -> None:
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batches.resume_batch(db.session.get(CredentialBatch, batch_id), actor)
        db.session.commit()


def _statuses(app, batch_id: int) -> Counter:
    with app.app_context():
        return Counter(
            db.session.scalars(select(Delivery.status).where(Delivery.batch_id == batch_id))
        )


def _batch(app, batch_id: int) -> CredentialBatch:
    with app.app_context():
        return db.session.get(CredentialBatch, batch_id)


def _assert_each_once(sink: SmtpSink, count: int) -> None:
    per_recipient = Counter(r for m in sink.messages for r in m.recipients)
    assert per_recipient == Counter({f"student{n}@families.example": 1 for n in range(count)})


def _assert_links_work(app, sink: SmtpSink) -> None:
    with app.app_context():
        for message in sink.messages:
            token = message.link.rsplit("/", 1)[1]
            assert links.check_token(token).status is LinkStatus.VALID


def test_every_message_arrives_once_over_one_connection(smtp_app, smtp_server):
    district = make_district(smtp_app, 5)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 5)
    _assert_links_work(smtp_app, smtp_server)
    assert _statuses(smtp_app, batch_id) == {"sent": 5}
    message = smtp_server.messages[0].message
    # Flask-Mail wraps the text/html alternatives in multipart/mixed.
    parts = {p.get_content_type() for p in message.walk()}
    assert parts >= {"multipart/alternative", "text/plain", "text/html"}


def test_each_outcome_is_committed_with_its_event_before_the_next_message_goes(
    smtp_app, smtp_server
):
    """What makes "a crash repeats only the message in flight" true: when the server takes
    message n, outcomes 1..n-1 and their audit events are already committed."""
    from sqlalchemy import create_engine, func

    smtp_app.config["DELIVERY_CHUNK_SIZE"] = 3
    district = make_district(smtp_app, 7)
    observer = create_engine(smtp_app.config["SQLALCHEMY_DATABASE_URI"])
    seen: list[tuple[int, int, int]] = []

    def look(count: int) -> None:
        with observer.connect() as conn:
            sent = conn.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
            events = conn.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "delivery_sent")
            )
        seen.append((count, sent, events))

    smtp_server.on_message = look
    _send(smtp_app, district)
    observer.dispose()
    assert seen == [(n, n - 1, n - 1) for n in range(1, 8)]


def test_one_connection_carries_every_chunk_of_a_run(smtp_app, smtp_server):
    smtp_app.config["DELIVERY_CHUNK_SIZE"] = 2
    district = make_district(smtp_app, 7)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 7)
    assert _statuses(smtp_app, batch_id) == {"sent": 7}
    assert smtp_server.connections == 1


def test_mail_max_emails_opens_a_new_connection_after_that_many(smtp_app, smtp_server):
    smtp_app.config.update(DELIVERY_CHUNK_SIZE=2, MAIL_MAX_EMAILS=3)
    mail.init_app(smtp_app)
    district = make_district(smtp_app, 7)
    _send(smtp_app, district)
    _assert_each_once(smtp_server, 7)
    assert smtp_server.connections == 3  # 3 + 3 + 1


def test_a_connection_the_server_closed_while_idle_is_reopened_at_once(
    smtp_app, smtp_server, clock
):
    smtp_app.config.update(DELIVERY_CHUNK_SIZE=2, DELIVERY_RETRY_DELAYS=[60])
    smtp_server.close_after = {2, 5}
    district = make_district(smtp_app, 6)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 6)
    _assert_links_work(smtp_app, smtp_server)
    assert _statuses(smtp_app, batch_id) == {"sent": 6}
    assert smtp_server.connections == 3
    assert clock.waits == []  # no back-off before reopening


def test_refused_recipient_fails_with_the_servers_reason_and_others_go_on(smtp_app, smtp_server):
    smtp_server.refuse["student1@families.example"] = "550 5.1.1 No such user here"
    district = make_district(smtp_app, 3)
    batch_id = _send(smtp_app, district)
    assert len(smtp_server.messages) == 2
    assert _statuses(smtp_app, batch_id) == {"sent": 2, "failed": 1}
    with smtp_app.app_context():
        failed = db.session.scalar(select(Delivery).where(Delivery.status == "failed"))
        assert failed.error == "550 5.1.1 No such user here"
        assert (
            db.session.scalar(select(AuditEvent).where(AuditEvent.action == "delivery_failed"))
            .details["reason"]
            .startswith("550")
        )
        assert _batch(smtp_app, batch_id).status == "done"


def test_a_relay_asking_to_slow_down_slows_the_batch_and_fails_nobody(smtp_app, smtp_server, clock):
    smtp_server.slow_down_at = {3, 4, 5}
    district = make_district(smtp_app, 6)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 6)
    _assert_links_work(smtp_app, smtp_server)
    assert _statuses(smtp_app, batch_id) == {"sent": 6}
    first = smtp_app.config["DELIVERY_THROTTLE_FIRST_WAIT"]
    # Each refusal doubles the wait before the next message; acceptances halve it again.
    assert clock.waits[:3] == [first, 2 * first, 4 * first]
    with smtp_app.app_context():
        assert db.session.scalar(select(func.max(Delivery.attempts))) == 1
        slowed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "delivery_deferred")
        ).all()
        assert len(slowed) == 3
        assert all(e.details["reason"].startswith("slowed down: 421") for e in slowed)


def test_a_relay_that_keeps_refusing_pauses_the_batch_then_resume_sends_each_once(
    smtp_app, smtp_server
):
    smtp_server.fail_after = 4
    district = make_district(smtp_app, 10)
    batch_id = _send(smtp_app, district)
    assert len(smtp_server.messages) == 4
    assert _statuses(smtp_app, batch_id) == {"sent": 4, "queued": 6}
    batch = _batch(smtp_app, batch_id)
    assert batch.status == "paused"
    assert "keeps asking to slow down: 421" in batch.error
    assert batch.resume_at is not None

    smtp_server.fail_after = None
    _resume(smtp_app, district, batch_id)
    _assert_each_once(smtp_server, 10)
    _assert_links_work(smtp_app, smtp_server)
    assert _statuses(smtp_app, batch_id) == {"sent": 10}
    assert _batch(smtp_app, batch_id).status == "done"


def test_dropped_connection_is_reopened_and_nobody_is_missed_or_doubled(smtp_app, smtp_server):
    smtp_server.drop_at = {3, 7}
    district = make_district(smtp_app, 8)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 8)
    assert _statuses(smtp_app, batch_id) == {"sent": 8}


def test_temporary_recipient_refusal_is_retried_after_back_off(smtp_app, smtp_server):
    smtp_server.refuse["student0@families.example"] = "450 4.2.1 Mailbox busy"
    smtp_app.config["DELIVERY_MAX_ATTEMPTS"] = 3
    district = make_district(smtp_app, 2)
    batch_id = _send(smtp_app, district)
    assert _statuses(smtp_app, batch_id) == {"sent": 1, "failed": 1}
    with smtp_app.app_context():
        busy = db.session.scalar(
            select(Delivery).where(Delivery.address == "student0@families.example")
        )
        assert busy.status == "failed"
        assert busy.attempts == 3
        assert busy.error == "gave up after 3 attempts: 450 4.2.1 Mailbox busy"
        deferred = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "delivery_deferred")
        ).all()
        assert len(deferred) == 2
    assert len(smtp_server.messages) == 1


def test_temporary_refusal_that_clears_is_delivered_on_a_later_attempt(smtp_app, smtp_server):
    smtp_server.refuse["student0@families.example"] = "451 4.3.0 Try again"
    district = make_district(smtp_app, 1)
    smtp_server.on_message = None

    def clear_after_first_try(*_):
        smtp_server.refuse.clear()

    original = smtp_server.handle_RCPT

    async def refuse_once(server, session, envelope, address, options):
        reply = await original(server, session, envelope, address, options)
        clear_after_first_try()
        return reply

    smtp_server.handle_RCPT = refuse_once
    batch_id = _send(smtp_app, district)
    assert _statuses(smtp_app, batch_id) == {"sent": 1}
    with smtp_app.app_context():
        assert db.session.scalar(select(Delivery.attempts)) == 2
    _assert_links_work(smtp_app, smtp_server)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_smtp_down_keeps_everything_queued_and_loses_nothing(app):
    port = _free_port()
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_SUPPRESS_SEND=False,
        MAIL_TIMEOUT=2,
        DELIVERY_RETRY_DELAYS=[0, 0],
    )
    mail.init_app(app)
    district = make_district(app, 4)
    batch_id = _send(app, district)
    assert _statuses(app, batch_id) == {"queued": 4}
    batch = _batch(app, batch_id)
    assert batch.status == "retrying"
    assert "connection" in batch.error

    sink = SmtpSink()
    controller = _Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _resume(app, district, batch_id)
    finally:
        controller.stop()
    _assert_each_once(sink, 4)
    _assert_links_work(app, sink)
    assert _statuses(app, batch_id) == {"sent": 4}


def _held_batch(app, district: District, heartbeat_age: float) -> int:
    """An email batch that another run holds, last seen `heartbeat_age` seconds ago."""
    from datetime import timedelta

    from webapp.models import utcnow

    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "print", {}, actor)
        batch.channel = "email"
        batch.status = "running"
        batch.runner = "someone-else"
        batch.heartbeat_at = utcnow() - timedelta(seconds=heartbeat_age)
        db.session.execute(
            Delivery.__table__.update()
            .where(Delivery.batch_id == batch.id)
            .values(channel="email", address="x@y.example", status="sending")
        )
        db.session.commit()
        return batch.id


def test_a_batch_held_by_a_live_run_is_left_to_it(smtp_app, smtp_server, clock, monkeypatch):
    """The resume waits out the holder's lease; a holder that beats meanwhile is alive."""
    from webapp.delivery import jobs
    from webapp.delivery.jobs import process_batch

    district = make_district(smtp_app, 2)
    batch_id = _held_batch(smtp_app, district, heartbeat_age=1)
    waits: list[float] = []

    def holder_beats(seconds: float) -> None:
        waits.append(seconds)
        clock.traveller.shift(seconds)
        db.session.execute(
            CredentialBatch.__table__.update()
            .where(CredentialBatch.id == batch_id)
            .values(heartbeat_at=utcnow())
        )
        db.session.commit()

    monkeypatch.setattr(jobs, "_sleep", holder_beats)
    with smtp_app.app_context():
        assert process_batch(batch_id) == "busy"
    lease_seconds = smtp_app.config["BATCH_LEASE_SECONDS"]
    assert len(waits) == 1 and lease_seconds - 2 < waits[0] <= lease_seconds + 0.5
    assert smtp_server.messages == []
    assert _statuses(smtp_app, batch_id) == {"sending": 2}


def test_a_silent_holder_is_taken_over_once_its_lease_runs_out(smtp_app, smtp_server, clock):
    from webapp.delivery.jobs import process_batch

    district = make_district(smtp_app, 2)
    batch_id = _held_batch(smtp_app, district, heartbeat_age=30)
    with smtp_app.app_context():
        assert process_batch(batch_id) == "done"
    lease_seconds = smtp_app.config["BATCH_LEASE_SECONDS"]
    waits = clock.waits
    assert len(waits) == 1 and lease_seconds - 32 < waits[0] <= lease_seconds - 29
    # The silent run's claims went back in line and were sent afresh.
    assert len(smtp_server.messages) == 2
    _assert_links_work(smtp_app, smtp_server)


CHILD = """
import sys
from webapp import create_app
from webapp.jobs import run_job
settings = dict(
    ENVIRONMENT="testing", SECRET_KEY=sys.argv[1], SQLALCHEMY_DATABASE_URI=sys.argv[2],
    JOBS_BACKEND="inline", BASE_URL="https://keyslip.test", MAIL_SERVER="127.0.0.1",
    MAIL_PORT=int(sys.argv[3]), MAIL_SUPPRESS_SEND=False, ARGON2_TIME_COST=1,
    ARGON2_MEMORY_COST=8, DELIVERY_CHUNK_SIZE=int(sys.argv[5]),
)
app = create_app(settings)
run_job(app, "webapp.delivery.jobs.process_batch", (int(sys.argv[4]),))
print("finished without being killed")
"""


def test_killed_mid_batch_resumes_with_no_one_skipped_and_dead_links_in_any_extra(
    smtp_app, smtp_server, tmp_path
):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from webapp.jobs import pending

    total, kill_at = 12, 7
    district = make_district(smtp_app, total)
    with smtp_app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, actor)
        assert len(pending()) == 1
        db.session.info.clear()  # the child process runs this batch, not the inline backend
        db.session.commit()
        batch_id = batch.id

    child: dict[str, subprocess.Popen] = {}

    def kill_child(count: int) -> None:
        # SIGKILL before the server answers 250: the worst moment for the client.
        if count == kill_at:
            os.kill(child["proc"].pid, signal.SIGKILL)

    smtp_server.on_message = kill_child
    cfg = smtp_app.config
    child["proc"] = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            cfg["SECRET_KEY"],
            cfg["SQLALCHEMY_DATABASE_URI"],
            str(smtp_server.port),
            str(batch_id),
            "5",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "KEYSLIP_INSTANCE_PATH": str(tmp_path / "child")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = child["proc"].communicate(timeout=60)
    assert child["proc"].returncode == -signal.SIGKILL, (out, err)
    assert len(smtp_server.messages) == kill_at
    smtp_server.on_message = None

    with smtp_app.app_context():
        assert db.session.get(CredentialBatch, batch_id).runner is not None  # died holding it
        # The dead run's lease runs out, as it would BATCH_LEASE_SECONDS later.
        lease_seconds = smtp_app.config["BATCH_LEASE_SECONDS"]
        db.session.execute(
            CredentialBatch.__table__.update()
            .where(CredentialBatch.id == batch_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=lease_seconds + 1))
        )
        db.session.commit()
    _resume(smtp_app, district, batch_id)

    assert _statuses(smtp_app, batch_id) == {"sent": total}
    per_recipient: dict[str, list] = {}
    for message in smtp_server.messages:
        per_recipient.setdefault(message.recipients[0], []).append(message)
    assert len(per_recipient) == total  # nobody skipped
    extra = len(smtp_server.messages) - total
    # Only the message in flight: the server took it, the worker died before hearing so.
    assert extra == 1
    with smtp_app.app_context():
        for received in per_recipient.values():
            *earlier, last = received
            assert links.check_token(last.link.rsplit("/", 1)[1]).status is LinkStatus.VALID
            for dead in earlier:
                status = links.check_token(dead.link.rsplit("/", 1)[1]).status
                assert status is LinkStatus.REPLACED
