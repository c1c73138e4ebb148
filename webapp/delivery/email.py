"""Email channel: SMTP through Flask-Mail's connection settings, one connection per run.

Transports, chosen by `transport()`:
- SmtpTransport: the real thing. One connection serves a whole run, chunk after chunk
  (reopened after MAIL_MAX_EMAILS messages when that is set, or when it drops); rendering
  and bookkeeping run while the server works on each command.
- RecordingTransport: Flask-Mail's suppressed mode (tests): messages go to
  `mail.record_messages()` only.
- DevOutboxTransport: development without MAIL_SERVER: messages are kept for /dev/outbox.
"""

from __future__ import annotations

import base64
import logging
import re
import select
import smtplib
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.charset import BASE64, Charset
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import lru_cache

from flask import Flask, current_app
from flask_mail import email_dispatched

from webapp.delivery import devoutbox
from webapp.delivery.messages import EmailContent
from webapp.delivery.outcomes import DeliveryConfigError, Outcome, Result

log = logging.getLogger(__name__)
CRLF = "\r\n"
_DOT_LINE = re.compile(rb"(?m)^\.")
_BASE64_UTF8 = Charset("utf-8")
_BASE64_UTF8.header_encoding = BASE64

# Pending work starts only within the first part of the server's usual time to answer
# (SmtpTransport._reply); until that is learned, a quarter millisecond is assumed.
_START_WITHIN = 0.6
_FIRST_GUESS = 0.00025

OnResult = Callable[[Outcome], None]
# A unit of background work to run while waiting; returns True while more remain.
Step = Callable[[], bool] | None
# Called before each message goes out, once every outcome before it has been reported:
# the job commits them there, so a crash can repeat only the message in flight.
Settle = Callable[[], None] | None


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: int
    message: EmailContent


def _reason(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()[:500]


def classify(exc: Exception, recipient: str) -> tuple[Result, str]:
    """Sort an SMTP error into failed for good, retry this message, or connection lost."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = exc.recipients.get(recipient, (0, b"refused"))
        return _by_code(code, _reason(code, text))
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, _reason(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError, socket.timeout)):
        return Result.INTERRUPTED, f"connection: {type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, smtplib.SMTPException):
        return Result.INTERRUPTED, f"smtp: {type(exc).__name__}: {exc}"[:500]
    raise exc


def _by_code(code: int, reason: str) -> tuple[Result, str]:
    # 421 means the server is closing the connection: a connection problem, not this message.
    if code == 421 or code <= 0:
        return Result.INTERRUPTED, reason
    if code >= 500:
        return Result.FAILED, reason
    return Result.RETRY, reason


def open_smtp(cfg: dict) -> smtplib.SMTP:
    """Open and authenticate one SMTP connection from MAIL_* settings."""
    timeout = cfg.get("MAIL_TIMEOUT", 30)
    if cfg.get("MAIL_USE_SSL"):
        host: smtplib.SMTP = smtplib.SMTP_SSL(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
    else:
        host = smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
    if cfg.get("MAIL_USE_TLS"):
        host.starttls()
    if cfg.get("MAIL_USERNAME") and cfg.get("MAIL_PASSWORD"):
        host.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
    return host


@lru_cache(maxsize=16)
def _sender_parts(sender: str | tuple[str, str]) -> tuple[str, str]:
    if isinstance(sender, tuple):
        return sender
    name, address = parseaddr(sender)
    return name, address or sender


def _envelope_sender(sender: str | tuple[str, str]) -> str:
    return _sender_parts(sender)[1]


@lru_cache(maxsize=16)
def _from_header(sender: str | tuple[str, str]) -> tuple[str, str]:
    """The From header line and the domain for Message-IDs, worked out once per sender."""
    name, address = _sender_parts(sender)
    domain = address.rpartition("@")[2] or "keyslip.invalid"
    return f"From: {formataddr((name, address), charset='utf-8')}", domain


@lru_cache(maxsize=4)
def _date_header(second: int) -> str:
    return f"Date: {formatdate(second, usegmt=True)}"


def _part(content_type: str, text: str) -> bytes:
    body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + body


def _subject(subject: str) -> str:
    if subject.isascii() and len(subject) < 200:
        return subject
    return Header(subject, _BASE64_UTF8).encode(linesep=CRLF)


def mime_bytes(message: EmailContent) -> bytes:
    """Serialise a text + HTML message as multipart/alternative.

    The email package's policy.SMTP generator (which Flask-Mail uses) costs milliseconds a
    message; this builds the same structure directly. Headers are encoded (RFC 2047), so no
    roster text can add a header: has_bad_headers() is checked first all the same.
    """
    from_header, domain = _from_header(message.sender)
    # Base64 bodies can never contain "=_", so a fixed boundary is safe (and costs no
    # system call for randomness).
    boundary = "=_keyslip_alternative"
    headers = [
        from_header,
        f"To: {message.to}",
        f"Subject: {_subject(message.subject)}",
        _date_header(int(time.time())),
        f"Message-ID: {make_msgid(domain=domain)}",
        "MIME-Version: 1.0",
    ]
    if not message.html:
        return (CRLF.join(headers) + CRLF).encode() + _part("text/plain", message.text)
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    marker = f"--{boundary}\r\n".encode()
    return b"".join(
        [
            (CRLF.join(headers) + CRLF + CRLF).encode(),
            marker,
            _part("text/plain", message.text),
            b"\r\n",
            marker,
            _part("text/html", message.html),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )


class SmtpTransport:
    """Send chunks over one SMTP connection (kept until close()), reconnecting when it drops.

    One thread, overlapped with the server: each time a command is sent, pending work
    (reporting the last outcome, rendering the next message, the job's background steps)
    runs in small pieces until the server's reply is readable (or is nearly due, by the
    server's answer time learned so far), and only then is the reply read. The CPU work
    hides in the server's think time, without a second thread fighting for the GIL.
    Before each message's data, every earlier outcome has been reported and `settle` has
    run, so the job can commit them before the message can land.
    """

    def __init__(self, cfg: dict, delays: Sequence[float]) -> None:
        self.cfg = dict(cfg)
        self.delays = list(delays)
        self.sender = _envelope_sender(cfg["MAIL_DEFAULT_SENDER"])
        # Flask-Mail's setting: some servers take only so many messages per connection.
        self.max_emails: int | None = cfg.get("MAIL_MAX_EMAILS") or None
        self.conn: smtplib.SMTP | None = None
        self.carried = 0  # messages the open connection has taken
        self.work: deque[Callable[[], None]] = deque()
        # How long the server takes to answer each command, learned as the run goes.
        self.think: dict[str, float] = {}
        self.before_data: Callable[[], None] | None = None

    def send_all(
        self,
        items: Iterable[OutgoingEmail],
        on_result: OnResult,
        background: Step = None,
        settle: Settle = None,
    ) -> None:
        source = iter(items)
        # Each message is rendered and MIME-encoded here, while the server is busy with the
        # one before: (item, bytes), or (item, None) for one whose headers are unsafe.
        ready: deque[tuple[OutgoingEmail, bytes | None]] = deque()

        def prepare_next() -> None:
            item = next(source, None)
            if item is not None:
                unsafe = item.message.has_bad_headers()
                ready.append((item, None if unsafe else mime_bytes(item.message)))
                self.work.append(prepare_next)

        self.work.append(prepare_next)
        dead: str | None = None

        armed = False

        def advance() -> None:
            # Background work (group commits, claiming the next chunk) runs in small steps
            # while the server works; it re-arms itself after each outcome.
            nonlocal armed
            armed = dead is None and background is not None and background()
            if armed:
                self.work.append(advance)

        def record(outcome: Outcome) -> None:
            nonlocal armed
            on_result(outcome)
            if not armed and dead is None and background is not None:
                armed = True
                self.work.append(advance)

        unreported: deque[Outcome] = deque()

        def report_next() -> None:
            if unreported:
                record(unreported.popleft())

        def before_data() -> None:
            while unreported:
                record(unreported.popleft())
            if settle is not None:
                settle()

        self.before_data = before_data
        armed = background is not None
        if armed:
            self.work.append(advance)
        try:
            while True:
                while not ready and self.work:
                    self.work.popleft()()
                if not ready:
                    break
                item, data = ready.popleft()
                if dead is not None:
                    outcome = Outcome(item.delivery_id, Result.INTERRUPTED, dead)
                elif data is None:
                    outcome = Outcome(item.delivery_id, Result.FAILED, "unsafe message header")
                else:
                    outcome = self._send(item, data)
                    if outcome.result is Result.INTERRUPTED:
                        dead = outcome.error
                unreported.append(outcome)
                self.work.appendleft(report_next)
            while self.work:
                self.work.popleft()()
        except BaseException:
            self.close()
            raise
        finally:
            self.work.clear()
            self.before_data = None

    def close(self) -> None:
        """Say goodbye to the server; the next message opens a new connection."""
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                _close(self.conn)
            self.conn, self.carried = None, 0

    def _send(self, item: OutgoingEmail, data: bytes) -> Outcome:
        """Send one message; on a connection problem reconnect with back-off and resend."""
        waits = list(self.delays)
        while True:
            # A connection that has carried messages may have been closed by the server
            # while idle (between chunks, say): the first reconnect does not wait.
            reused = self.carried > 0
            try:
                self._transaction(item.message.to, data)
                self.carried += 1
                return Outcome(item.delivery_id, Result.SENT)
            except Exception as exc:  # noqa: BLE001 (classified below, never swallowed)
                result, reason = classify(exc, item.message.to)
                if result is not Result.INTERRUPTED:
                    self._reset()
                    return Outcome(item.delivery_id, result, reason)
                self.conn, self.carried = _close(self.conn), 0
                if reused:
                    log.info("SMTP connection closed by the server, reopening: %s", reason)
                    continue
                if not waits:
                    return Outcome(item.delivery_id, Result.INTERRUPTED, reason)
                log.warning("SMTP connection problem, retrying: %s", reason)
                time.sleep(waits.pop(0))

    def _reply(self, command: str) -> tuple[int, bytes]:
        """Do pending work while the server thinks, then read its reply.

        A piece of work is started only early in the wait: one started just before the
        reply comes keeps the server waiting for as long as it runs, where leaving it for
        the next command costs nothing. How long the server takes to answer each command
        is learned as the connection goes (a moving average).
        """
        sock = self.conn.sock
        start = time.perf_counter()
        think = self.think.get(command, _FIRST_GUESS)
        until = start + think * _START_WITHIN
        while self.work and time.perf_counter() < until and not select.select([sock], [], [], 0)[0]:
            self.work.popleft()()
        reply = self.conn.getreply()
        self.think[command] = think + (time.perf_counter() - start - think) * 0.1
        return reply

    def _transaction(self, recipient: str, data: bytes) -> None:
        if self.max_emails and self.carried >= self.max_emails:
            self.close()
        if self.conn is None:
            self.carried = 0
            self.conn = open_smtp(self.cfg)
            self.conn.ehlo_or_helo_if_needed()
        conn = self.conn
        # Addresses were validated when the batch was planned; quoteaddr re-parses each.
        conn.putcmd("mail", f"FROM:<{self.sender}>")
        code, reply = self._reply("mail")
        if code != 250:
            if code == 421:
                conn.close()
            raise smtplib.SMTPSenderRefused(code, reply, self.sender)
        conn.putcmd("rcpt", f"TO:<{recipient}>")
        code, reply = self._reply("rcpt")
        if code not in (250, 251):
            if code == 421:
                conn.close()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        conn.putcmd("data")
        code, reply = self._reply("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if self.before_data is not None:
            self.before_data()  # earlier outcomes committed before this message can land
        # Dot-stuffing (RFC 5321 4.5.2); base64 bodies never need it, so look before copying.
        body = _DOT_LINE.sub(b"..", data) if data.startswith(b".") or b"\n." in data else data
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        conn.send(body + b".\r\n")
        code, reply = self._reply("message")
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    def _reset(self) -> None:
        if self.conn is not None:
            try:
                self.conn.rset()
            except (smtplib.SMTPException, OSError):
                self.conn = _close(self.conn)


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass
    return None


class RecordingTransport:
    """Flask-Mail's suppressed mode: dispatch the signal only (mail.record_messages())."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def send_all(
        self,
        items: Iterable[OutgoingEmail],
        on_result: OnResult,
        background: Step = None,
        settle: Settle = None,
    ) -> None:
        for item in items:
            if settle is not None:
                settle()
            if item.message.has_bad_headers():
                on_result(Outcome(item.delivery_id, Result.FAILED, "unsafe message header"))
                continue
            email_dispatched.send(self.app, message=item.message.as_flask_mail())
            on_result(Outcome(item.delivery_id, Result.SENT))

    def close(self) -> None:
        """Nothing is held open."""


class DevOutboxTransport:
    """Keep messages in the development outbox."""

    def send_all(
        self,
        items: Iterable[OutgoingEmail],
        on_result: OnResult,
        background: Step = None,
        settle: Settle = None,
    ) -> None:
        for item in items:
            if settle is not None:
                settle()
            message = item.message
            devoutbox.store("email", message.to, message.subject, message.text, message.html)
            on_result(Outcome(item.delivery_id, Result.SENT))

    def close(self) -> None:
        """Nothing is held open."""


def transport() -> SmtpTransport | RecordingTransport | DevOutboxTransport:
    """Pick the transport for this app's configuration."""
    app = current_app._get_current_object()
    cfg = app.config
    if devoutbox.enabled():
        return DevOutboxTransport()
    if cfg.get("MAIL_SUPPRESS_SEND", app.testing):
        return RecordingTransport(app)
    if not cfg.get("MAIL_SERVER"):
        raise DeliveryConfigError(
            "Email is not configured: set FLASK_MAIL_SERVER (and the other MAIL_ settings)."
        )
    return SmtpTransport(cfg, cfg["DELIVERY_RETRY_DELAYS"])
