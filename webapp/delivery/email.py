"""Email channel: Flask-Mail, one connection per run.

`EmailSender` opens one `mail.connect()` when the first message goes and keeps it for the
run; Flask-Mail itself reopens it after MAIL_MAX_EMAILS messages. A connection the server
dropped is reopened at once; one that cannot be opened is retried after the configured
back-off, then the run stops (INTERRUPTED) and the batch waits for the next run.
In tests (MAIL_SUPPRESS_SEND) Flask-Mail sends nothing and `mail.record_messages()` sees
every message; in development without a mail server messages go to the dev outbox.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable, Sequence

from flask import current_app
from flask_mail import Connection, Message

from webapp.delivery import devoutbox, messages
from webapp.delivery.messages import Prepared
from webapp.delivery.outcomes import DeliveryConfigError, Result
from webapp.extensions import mail

log = logging.getLogger(__name__)

# Words relays use when they refuse for now because of a rate or a quota, whatever the
# code: Microsoft 365 "432 4.3.2 ... thread limit exceeded", "554 5.2.0 ...
# SubmissionQuotaExceededException"; Google "421 4.7.0 Try again later", "550 5.4.5 Daily
# user sending quota exceeded"; Amazon SES "454 Throttling failure: Maximum sending rate
# exceeded".
_SLOW_DOWN = ("quota", "rate", "throttl", "too many", "limit exceeded", "try again later")


def classify(code: int, text: bytes | str) -> tuple[Result, str]:
    """Sort a refusal: failed for good (5xx), retry this message (4xx), or slow down."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reason = f"{code} {text}".strip()[:500]
    if code == 421 or any(word in reason.lower() for word in _SLOW_DOWN):
        return Result.THROTTLED, reason
    if code >= 500:
        return Result.FAILED, reason
    return Result.RETRY, reason


def _reply_of(exc: Exception, recipient: str) -> tuple[int, bytes | str] | None:
    """The server's reply behind an smtplib error, or None when the connection failed."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return exc.recipients.get(recipient, (550, b"refused"))
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code, exc.smtp_error
    return None


class EmailSender:
    """Render and send each delivery's email over one connection, kept for the run."""

    def __init__(self, retry_delays: Sequence[float], sleep: Callable[[float], None]) -> None:
        cfg = current_app.config
        if not cfg.get("MAIL_SERVER") and not current_app.extensions["mail"].suppress:
            raise DeliveryConfigError(
                "Email is not configured: set FLASK_MAIL_SERVER (and the other MAIL_ settings)."
            )
        self.retry_delays = list(retry_delays)
        self.sleep = sleep
        self.timeout = cfg.get("MAIL_TIMEOUT") or 30
        self.connection: Connection | None = None
        self.carried = 0  # messages the open connection has taken

    def deliver(self, prepared: Prepared) -> tuple[Result, str | None]:
        return self.send(messages.email_message(prepared))

    def send(self, message: Message) -> tuple[Result, str | None]:
        if message.has_bad_headers():
            return Result.FAILED, "unsafe message header"
        waits = list(self.retry_delays)
        while True:
            # A connection that has carried messages may have been closed by the server
            # while idle: the first reconnect does not wait.
            idle_drop = self.carried > 0
            try:
                self._open().send(message)
                self.carried += 1
                return Result.SENT, None
            except (smtplib.SMTPException, OSError) as exc:
                reply = _reply_of(exc, message.recipients[0])
                if reply is not None and self.connection is not None:
                    if self._lost():
                        self.close()
                    return classify(*reply)
                reason = f"connection: {type(exc).__name__}: {exc}"[:500]
            self.close()
            if idle_drop:
                log.info("SMTP connection closed by the server, reopening: %s", reason)
                continue
            if not waits:
                return Result.INTERRUPTED, reason
            log.warning("SMTP connection problem, retrying: %s", reason)
            self.sleep(waits.pop(0))

    def _open(self) -> Connection:
        """The run's connection, opened on first use. An error opening it (refused,
        authentication, TLS) leaves self.connection None: a connection problem."""
        if self.connection is None:
            self.carried = 0
            connection = mail.connect().__enter__()
            if connection.host is not None and connection.host.sock is not None:
                connection.host.sock.settimeout(self.timeout)
            self.connection = connection
        return self.connection

    def _lost(self) -> bool:
        """True when the server hung up with its reply (smtplib closes on a 421)."""
        host = self.connection.host if self.connection else None
        return host is not None and host.sock is None

    def close(self) -> None:
        """Say goodbye to the server; the next message opens a new connection."""
        if self.connection is None:
            return
        host, self.connection, self.carried = self.connection.host, None, 0
        if host is None:
            return
        try:
            host.quit()
        except (smtplib.SMTPException, OSError):
            host.close()


class DevOutboxSender:
    """Development without a mail server: keep each message for the /dev/outbox page."""

    def deliver(self, prepared: Prepared) -> tuple[Result, str | None]:
        message = messages.email_message(prepared)
        if message.has_bad_headers():
            return Result.FAILED, "unsafe message header"
        devoutbox.store("email", prepared.to, message.subject, message.body, message.html)
        return Result.SENT, None

    def close(self) -> None:
        """Nothing is held open."""


def sender(sleep: Callable[[float], None] = time.sleep) -> EmailSender | DevOutboxSender:
    """The email sender for this app's configuration."""
    if devoutbox.enabled():
        return DevOutboxSender()
    return EmailSender(current_app.config["DELIVERY_RETRY_DELAYS"], sleep)
