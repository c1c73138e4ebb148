"""A small plain-text mail helper for notices to admins (sync alerts).

Credential mail has its own machinery in the delivery package; this only tells admins
that something needs a look. It runs inside jobs, never in a request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import current_app
from flask_mail import Message

from webapp.extensions import mail

log = logging.getLogger(__name__)


def one_line(text: str, limit: int = 150) -> str:
    """Return text fit for a mail header: no line breaks or control characters."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())[:limit]


def send_mail(recipients: Sequence[str], subject: str, body: str) -> int:
    """Send one plain-text message; return how many recipients it went to."""
    if not recipients:
        return 0
    if not current_app.config.get("MAIL_SERVER") and not current_app.testing:
        log.info("no MAIL_SERVER configured; notice %r not sent", one_line(subject))
        return 0
    message = Message(subject=one_line(subject), recipients=list(recipients), body=body)
    mail.send(message)
    return len(recipients)
