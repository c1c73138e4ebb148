"""Email channel: SMTP through Flask-Mail's connection settings, one connection per chunk.

Transports, chosen by `transport()`:
- SmtpTransport: the real thing. A sender thread talks SMTP while the calling thread renders
  the next message and records outcomes, so rendering and bookkeeping overlap the server's
  round trips. At most one message waits ahead of the one being sent.
- RecordingTransport: Flask-Mail's suppressed mode (tests): messages go to
  `mail.record_messages()` only.
- DevOutboxTransport: development without MAIL_SERVER: messages are kept for /dev/outbox.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from flask import Flask, current_app
from flask_mail import Message, email_dispatched

from webapp.delivery import devoutbox
from webapp.delivery.outcomes import DeliveryConfigError, Outcome, Result

log = logging.getLogger(__name__)

OnResult = Callable[[Outcome], None]


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: int
    message: Message


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


def _envelope_sender(sender: str | tuple[str, str]) -> str:
    from email.utils import parseaddr

    if isinstance(sender, tuple):
        return sender[1]
    return parseaddr(sender)[1] or sender


class SmtpTransport:
    """Send a chunk over one SMTP connection, reconnecting with back-off when it drops."""

    def __init__(self, cfg: dict, delays: Sequence[float]) -> None:
        self.cfg = dict(cfg)
        self.delays = list(delays)
        self.sender = _envelope_sender(cfg["MAIL_DEFAULT_SENDER"])

    def send_all(self, items: Iterable[OutgoingEmail], on_result: OnResult) -> None:
        inbox: queue.Queue = queue.Queue(maxsize=1)
        results: queue.Queue = queue.Queue()
        stop = threading.Event()
        worker = threading.Thread(
            target=self._send_loop, args=(inbox, results, stop), name="smtp", daemon=True
        )
        worker.start()
        finished = False
        try:
            for item in items:
                if item.message.has_bad_headers():
                    on_result(Outcome(item.delivery_id, Result.FAILED, "unsafe message header"))
                    continue
                data = item.message.as_bytes()
                inbox.put((item.delivery_id, item.message.recipients[0], data))
                self._drain(results, on_result, block=False)
            inbox.put(None)
            finished = self._drain(results, on_result, block=True)
        finally:
            if not finished:
                # Something failed here: stop the sender after the message in hand.
                stop.set()
                try:
                    inbox.put_nowait(None)
                except queue.Full:
                    pass
            worker.join(timeout=60)

    @staticmethod
    def _drain(results: queue.Queue, on_result: OnResult, *, block: bool) -> bool:
        while True:
            try:
                outcome = results.get(block=block)
            except queue.Empty:
                return False
            if outcome is None:
                return True
            on_result(outcome)

    def _send_loop(self, inbox: queue.Queue, results: queue.Queue, stop: threading.Event) -> None:
        conn: smtplib.SMTP | None = None
        dead: str | None = None
        try:
            while True:
                item = inbox.get()
                if item is None or stop.is_set():
                    break
                delivery_id, recipient, data = item
                if dead is not None:
                    results.put(Outcome(delivery_id, Result.INTERRUPTED, dead))
                    continue
                waits = list(self.delays)
                while True:
                    try:
                        if conn is None:
                            conn = open_smtp(self.cfg)
                        conn.sendmail(self.sender, [recipient], data)
                    except Exception as exc:  # noqa: BLE001 (classified below, never swallowed)
                        result, reason = classify(exc, recipient)
                        if result is not Result.INTERRUPTED:
                            results.put(Outcome(delivery_id, result, reason))
                            break
                        conn = _close(conn)
                        if waits and not stop.is_set():
                            log.warning("SMTP connection problem, retrying: %s", reason)
                            time.sleep(waits.pop(0))
                            continue
                        dead = reason
                        results.put(Outcome(delivery_id, Result.INTERRUPTED, reason))
                        break
                    else:
                        results.put(Outcome(delivery_id, Result.SENT))
                        break
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    _close(conn)
            results.put(None)


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

    def send_all(self, items: Iterable[OutgoingEmail], on_result: OnResult) -> None:
        for item in items:
            if item.message.has_bad_headers():
                on_result(Outcome(item.delivery_id, Result.FAILED, "unsafe message header"))
                continue
            email_dispatched.send(self.app, message=item.message)
            on_result(Outcome(item.delivery_id, Result.SENT))


class DevOutboxTransport:
    """Keep messages in the development outbox."""

    def send_all(self, items: Iterable[OutgoingEmail], on_result: OnResult) -> None:
        for item in items:
            message = item.message
            devoutbox.store(
                "email", message.recipients[0], message.subject, message.body, message.html
            )
            on_result(Outcome(item.delivery_id, Result.SENT))


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
