"""What a channel reports about each message it tried to send."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Result(enum.StrEnum):
    SENT = "sent"
    # The server refused this recipient for good (5xx): failed, with its reason.
    FAILED = "failed"
    # A temporary refusal for this message (4xx): queued again after a back-off.
    RETRY = "retry"
    # The connection is gone and reconnecting failed: nothing more is sent this run.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    result: Result
    error: str | None = None


class DeliveryConfigError(Exception):
    """A channel cannot work at all as configured (for example no mail server in production)."""
