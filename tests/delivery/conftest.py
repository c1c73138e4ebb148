"""Delivery fixtures: a local aiosmtpd server with fault modes, and a district to send to."""

from __future__ import annotations

import asyncio
import email
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import time_machine
from aiosmtpd.controller import Controller

from tests.factories import make_school, make_user
from webapp.delivery import jobs, quota
from webapp.extensions import db, mail
from webapp.models import Role

LINK = re.compile(r"https://keyslip\.test/set-password/[A-Za-z0-9_-]{43}")


@dataclass
class Received:
    sender: str
    recipients: list[str]
    content: bytes

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.content)

    @property
    def text(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode()
        return ""

    @property
    def link(self) -> str | None:
        match = LINK.search(self.text)
        return match.group(0) if match else None


@dataclass
class SmtpSink:
    """An aiosmtpd handler whose faults the test switches on and off."""

    port: int = 0
    messages: list[Received] = field(default_factory=list)
    # address -> reply, e.g. "550 5.1.1 No such user" or "450 4.2.1 Mailbox busy"
    refuse: dict[str, str] = field(default_factory=dict)
    # reply 421 to DATA once this many messages are in
    fail_after: int | None = None
    # close the connection instead of answering the DATA of message number N (1-based)
    drop_at: set[int] = field(default_factory=set)
    # called with the running count after each accepted message, before the 250 reply
    on_message: Callable[[int], None] | None = None
    # accept message number N (1-based), then close the connection as an idle server would
    close_after: set[int] = field(default_factory=set)
    # answer the DATA of message number N (1-based) with a rate-limit refusal
    slow_down_at: set[int] = field(default_factory=set)
    data_seen: int = 0
    connections: int = 0  # sessions greeted with EHLO or HELO
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):  # noqa: N802
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.data_seen += 1
            if self.data_seen in self.drop_at:
                server.transport.close()
                return "250 dropped (never seen by the client)"
            if self.data_seen in self.slow_down_at:
                return "421 4.7.0 Try again later, closing connection"
            if self.fail_after is not None and len(self.messages) >= self.fail_after:
                return "421 4.3.2 Service shutting down, try later"
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
            count = len(self.messages)
            closing = self.data_seen in self.close_after
        if self.on_message:
            self.on_message(count)
        if closing:
            # The reply goes out first; the close follows once the loop runs again.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.recipients]


class _Controller(Controller):
    """aiosmtpd's controller on an ephemeral port (port 0)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    controller = _Controller(sink, hostname="127.0.0.1", port=0)
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture
def smtp_app(app, smtp_server):
    """The app sending real SMTP to the local server, with no waits between retries."""
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server.port,
        MAIL_SUPPRESS_SEND=False,
        MAIL_TIMEOUT=5,
        DELIVERY_RETRY_DELAYS=[0, 0],
    )
    mail.init_app(app)  # Flask-Mail reads its settings when it is set up
    return app


REDIS_URL = os.environ.get("REDIS_URL")


@pytest.fixture(
    params=[
        "database",
        pytest.param("redis", marks=pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL")),
    ]
)
def backend(request, app, monkeypatch):
    """Return the app counting in the database, or in Redis under keys of this test's own."""
    if request.param == "database":
        yield app
        return
    prefix = f"keyslip-relay-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(quota, "REDIS_KEY_PREFIX", prefix)
    app.config["REDIS_URL"] = REDIS_URL
    yield app
    from redis import Redis

    redis = Redis.from_url(REDIS_URL)
    for key in redis.scan_iter(f"{prefix}:*"):
        redis.delete(key)


@dataclass
class Clock:
    """The clock a batch run sees: each of its waits moves it on instead of sleeping."""

    traveller: time_machine.Coordinates
    waits: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.traveller.shift(seconds)


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Iterator[Clock]:
    """No delivery test waits in real time: pacing, back-off and lease waits move the clock."""
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        moved = Clock(traveller)
        monkeypatch.setattr(jobs, "_sleep", moved.sleep)
        yield moved


@dataclass
class District:
    school_id: int
    admin_id: int
    student_ids: list[int]


def make_district(app, students: int = 3, *, with_email: bool = True, **fields) -> District:
    """A school, a school admin and never-invited students with email addresses."""
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        admin = make_user(Role.ADMIN, school=school, username="office.admin")
        ids = []
        for n in range(students):
            user = make_user(
                Role.STUDENT,
                school=school,
                password=None,
                grade="05",
                email=f"student{n}@families.example" if with_email else None,
                **fields,
            )
            ids.append(user.id)
        db.session.commit()
        return District(school.id, admin.id, ids)
