"""What a channel reports about each message it tried to send."""

from __future__ import annotations

import enum


class Result(enum.StrEnum):
    SENT = "sent"
    # The server refused this recipient for good (5xx): failed, with its reason.
    FAILED = "failed"
    # A temporary refusal of this message (4xx): queued again after a back-off.
    RETRY = "retry"
    # The relay asks us to slow down (a rate or quota reply): the run slows, nobody fails.
    THROTTLED = "throttled"
    # The connection is gone and reconnecting failed: nothing more is sent this run.
    INTERRUPTED = "interrupted"


class DeliveryConfigError(Exception):
    """A channel cannot work at all as configured (for example no mail server in production)."""
