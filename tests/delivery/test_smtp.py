"""Real SMTP to a local aiosmtpd server: refusals, 421s, drops, an outage, and resuming."""

from __future__ import annotations

import socket
from collections import Counter

import pytest
from sqlalchemy import select

from tests.delivery.conftest import District, SmtpSink, _Controller, make_district
from webapp.delivery import batches, links
from webapp.delivery.links import LinkStatus
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, Delivery, User


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
    assert message.get_content_type() == "multipart/alternative"
    assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}


def test_every_outcome_is_reported_and_settled_before_the_next_message_goes_out(
    smtp_app, smtp_server
):
    """The transport's side of "a crash repeats only the message in flight": before each
    message's data, every earlier outcome has reached the job and `settle` has run."""
    from webapp.delivery.email import OutgoingEmail, SmtpTransport
    from webapp.delivery.messages import EmailContent

    reported: list[int] = []
    seen_at_settle: list[list[int]] = []
    items = [
        OutgoingEmail(n, EmailContent("office@school.example", f"p{n}@x.example", "Hi", "t", ""))
        for n in range(5)
    ]
    transport = SmtpTransport(smtp_app.config, [0])
    transport.send_all(
        items,
        lambda outcome: reported.append(outcome.delivery_id),
        None,
        lambda: seen_at_settle.append(list(reported)),
    )
    transport.close()
    assert seen_at_settle == [[], [0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]
    assert reported == [0, 1, 2, 3, 4]
    assert len(smtp_server.messages) == 5


def test_work_starts_only_early_in_the_servers_usual_time_to_answer(smtp_app):
    """A piece of background work started just before the reply would keep the server
    waiting: past the first part of the learned answer time the rest waits."""
    import time

    from webapp.delivery import email

    class SlowServer:
        """A connection whose reply is never readable early and arrives when read."""

        def __init__(self) -> None:
            self.sock, self.other = socket.socketpair()

        def getreply(self):
            return 250, b"ok"

    transport = email.SmtpTransport(smtp_app.config, [0])
    server = SlowServer()
    transport.conn = server
    started: list[float] = []
    transport.work.extend(
        (lambda: (started.append(time.perf_counter()), time.sleep(0.02))) for _ in range(10)
    )
    transport.think["mail"] = 0.1  # the server usually takes 100 ms to answer MAIL
    begin = time.perf_counter()
    assert transport._reply("mail") == (250, b"ok")
    # Work starts within the first 60 ms only: three or four 20 ms pieces, never all ten.
    assert 2 <= len(started) <= 4
    assert all(at - begin < 0.1 * email._START_WITHIN for at in started)
    assert len(transport.work) == 10 - len(started)  # the rest waits for the next command
    # The learned time moves towards what this answer took.
    assert transport.think["mail"] < 0.1
    transport.conn = None
    server.sock.close()
    server.other.close()


def test_one_connection_carries_every_chunk_of_a_run(smtp_app, smtp_server):
    smtp_app.config["DELIVERY_CHUNK_SIZE"] = 2
    district = make_district(smtp_app, 7)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 7)
    assert _statuses(smtp_app, batch_id) == {"sent": 7}
    assert smtp_server.connections == 1


def test_mail_max_emails_opens_a_new_connection_after_that_many(smtp_app, smtp_server):
    smtp_app.config.update(DELIVERY_CHUNK_SIZE=2, MAIL_MAX_EMAILS=3)
    district = make_district(smtp_app, 7)
    _send(smtp_app, district)
    _assert_each_once(smtp_server, 7)
    assert smtp_server.connections == 3  # 3 + 3 + 1


def test_a_connection_the_server_closed_while_idle_is_reopened_at_once(
    smtp_app, smtp_server, monkeypatch
):
    from webapp.delivery import email

    def no_back_off(seconds: float) -> None:
        raise AssertionError(f"waited {seconds}s before reopening a closed idle connection")

    monkeypatch.setattr(email.time, "sleep", no_back_off)
    smtp_app.config.update(DELIVERY_CHUNK_SIZE=2, DELIVERY_RETRY_DELAYS=[60])
    smtp_server.close_after = {2, 5}
    district = make_district(smtp_app, 6)
    batch_id = _send(smtp_app, district)
    _assert_each_once(smtp_server, 6)
    _assert_links_work(smtp_app, smtp_server)
    assert _statuses(smtp_app, batch_id) == {"sent": 6}
    assert smtp_server.connections == 3


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


def test_421_after_n_messages_leaves_the_rest_queued_then_resume_sends_each_once(
    smtp_app, smtp_server
):
    smtp_server.fail_after = 4
    district = make_district(smtp_app, 10)
    batch_id = _send(smtp_app, district)
    assert len(smtp_server.messages) == 4
    assert _statuses(smtp_app, batch_id) == {"sent": 4, "queued": 6}
    batch = _batch(smtp_app, batch_id)
    assert batch.status == "retrying"
    assert batch.error.startswith("421")

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


def test_a_batch_held_by_a_live_run_is_not_run_twice(smtp_app, smtp_server):
    from webapp.delivery.jobs import process_batch
    from webapp.models import utcnow

    district = make_district(smtp_app, 2)
    with smtp_app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "print", {}, actor)
        batch.channel = "email"
        batch.status = "running"
        batch.runner = "someone-else"
        batch.heartbeat_at = utcnow()
        db.session.execute(
            Delivery.__table__.update()
            .where(Delivery.batch_id == batch.id)
            .values(channel="email", address="x@y.example")
        )
        db.session.commit()
        assert process_batch(batch.id) == "busy"
    assert smtp_server.messages == []


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
    smtp_app.config["BATCH_LEASE_SECONDS"] = 0  # the dead run's lease has run out
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


@pytest.mark.parametrize(("commit_every", "steps_per_message"), [(1, 1), (1, 3), (4, 1), (7, 3)])
def test_no_commit_during_a_batch_holds_half_a_claim_or_half_a_group(
    app, monkeypatch, commit_every, steps_per_message
):
    """While a chunk is on the wire the job records outcomes and claims the next chunk in
    small interleaved steps: every commit must still pair each credential and each outcome
    with its audit event, and mark no delivery whose credential is not written."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from webapp.delivery import jobs
    from webapp.delivery.outcomes import Outcome, Result
    from webapp.models import SetPasswordToken

    class OneStepPerMessage:
        """The SMTP transport's order of events, with a few background steps per wait."""

        def send_all(self, items, on_result, background, settle):
            for item in items:
                for _ in range(steps_per_message):  # MAIL, RCPT and DATA
                    background()
                settle()  # before the message's data
                for _ in range(steps_per_message):  # the server takes the message
                    background()
                on_result(Outcome(item.delivery_id, Result.SENT))
            while background():  # as the SMTP transport does once the chunk is out
                pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(jobs, "_transport", lambda channel: OneStepPerMessage())
    # Chunks big enough that the next claim runs among the group commits of this one.
    app.config.update(DELIVERY_CHUNK_SIZE=40, DELIVERY_COMMIT_EVERY=commit_every)
    district = make_district(app, 80)
    checked: list[int] = []

    def check(session: Session) -> None:
        conn = session.connection()
        tokens = conn.execute(
            select(SetPasswordToken.id, SetPasswordToken.user_id).where(
                SetPasswordToken.batch_id.is_not(None)
            )
        ).all()
        if not tokens:
            return
        events = conn.execute(select(AuditEvent.action, AuditEvent.details)).all()
        issued = {d["link_id"] for a, d in events if a == "credential_issued"}
        sent_events = {d["delivery_id"] for a, d in events if a == "delivery_sent"}
        status = dict(conn.execute(select(Delivery.user_id, Delivery.status)).all())
        sent = {i for (i,) in conn.execute(select(Delivery.id).where(Delivery.status == "sent"))}
        assert {token_id for token_id, _ in tokens} <= issued  # each link with its event
        linked = {user_id for _, user_id in tokens}
        marked = {user_id for user_id, state in status.items() if state != "queued"}
        assert marked <= linked  # a delivery is marked only once its link is written
        assert sent == sent_events  # each outcome with its event
        checked.append(len(tokens))

    # The job commits through Session.commit() and, after each outcome, at the driver.
    commit_in_place = jobs.commit_in_place

    def checked_commit_in_place() -> None:
        db.session.flush()
        check(db.session())
        commit_in_place()

    monkeypatch.setattr(jobs, "commit_in_place", checked_commit_in_place)
    event.listen(Session, "before_commit", check)
    try:
        batch_id = _send(app, district)
    finally:
        event.remove(Session, "before_commit", check)
    assert _statuses(app, batch_id) == {"sent": 80}
    assert len(checked) >= 2 + 80 // commit_every  # each claim and each group commit
