"""Delivery policy: who gets what, why someone is skipped, how an outcome becomes a status.

Plain functions on plain values, used when a batch is planned (batches.py) and again when
its job reaches each person (jobs.py), so the rule a preview shows is the rule that runs.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webapp.delivery.outcomes import Result
from webapp.models import Channel, DeliveryStatus, Kind, Role, Route, User

_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")


class Skip(enum.StrEnum):
    """Why someone in a selection gets nothing; the text is what pages and the CLI show."""

    DEACTIVATED = "deactivated"
    NOT_A_STUDENT = "not a student"
    ALREADY_ACTIVE = "already active"
    ALREADY_SENT = "already sent"
    SENT_RECENTLY = "sent recently"
    NO_ADDRESS = "no address: print instead"
    AWAITING_PRINT = "already waiting to be printed"
    NO_TEST_ADDRESS = "test mode is on but has no test address"


# A delivery that fails before any message: the number already had its messages today.
SMS_CAP_REACHED = "daily SMS limit for this number reached"


@dataclass(frozen=True)
class Address:
    to: str
    route: Route
    real: str | None = None  # in test mode: the address the message was meant for


@dataclass(frozen=True)
class Rollout:
    """The rollout filters of a batch, as `flask credentials send` and the console offer."""

    only_never_sent: bool = False
    only_not_active: bool = False
    include_active: bool = False
    sent_before: datetime | None = None


def valid_email(address: str | None) -> str | None:
    if not address or len(address) > 254 or not _EMAIL.fullmatch(address):
        return None
    return address


def check_kind_channel(kind: Kind, channel: Channel) -> str | None:
    """Say what is wrong with a kind on a channel, or None when they go together."""
    if kind is Kind.PASSWORD and channel is Channel.SMS:
        # SECURITY.md F4: SMS carries a link or a short code, never a password.
        return "Temporary passwords are not sent by SMS. Send a link, or print."
    return None


@dataclass(frozen=True)
class History:
    """What a person already had of this kind of credential."""

    last_sent: datetime | None = None
    has_code: bool = False  # a parent code, live or not
    awaiting_print: bool = False  # in a batch whose slips are still to be printed


def left_out(user: User, kind: Kind, rollout: Rollout, history: History) -> Skip | None:
    """Why a selected person is not in a batch at all, or None when they are."""
    last_sent = history.last_sent
    if user.deactivated_at is not None:
        return Skip.DEACTIVATED
    if rollout.only_never_sent and history.awaiting_print:
        return Skip.AWAITING_PRINT
    if kind is Kind.PARENT_CODE:
        if user.role != Role.STUDENT:
            return Skip.NOT_A_STUDENT
        if rollout.only_never_sent and (last_sent is not None or history.has_code):
            return Skip.ALREADY_SENT
    else:
        # People already using their account are never reset unless explicitly asked.
        active = user.activated_at is not None
        if active and (rollout.only_not_active or not rollout.include_active):
            return Skip.ALREADY_ACTIVE
        if rollout.only_never_sent and (last_sent is not None or user.invited_at is not None):
            return Skip.ALREADY_SENT
    if rollout.sent_before and last_sent is not None and last_sent >= rollout.sent_before:
        return Skip.SENT_RECENTLY
    return None


def address_for(
    user: User, channel: Channel, cfg: Mapping[str, Any], *, fallback: bool = True
) -> Address | None:
    """The person's address on a channel under their school's settings; None means print.

    fallback=False keeps to the person's own address (a reset link asked for on the
    forgot-password page goes nowhere else).
    """
    from webapp.delivery.sms import valid_e164

    if channel is Channel.EMAIL:
        if valid_email(user.email):
            return Address(user.email, Route.DIRECT)
        if fallback and cfg["fallback_email"]:
            return Address(cfg["fallback_email"], Route.FALLBACK)
    elif channel is Channel.SMS:
        number = valid_e164(user.phone)
        if number:
            return Address(number, Route.DIRECT)
    return None


def address_at_send(
    user: User, kind: Kind, channel: Channel, cfg: Mapping[str, Any], *, fallback: bool = True
) -> Address | Skip:
    """Where the job sends a person's message now, or why it skips them.

    Checked again when the message is due: the person may have been deactivated, or lost
    their address, since the batch was planned. Test mode sends to the school's test
    address and keeps the real one for the message to name.
    """
    if user.deactivated_at is not None:
        return Skip.DEACTIVATED
    if kind is Kind.PARENT_CODE and user.role != Role.STUDENT:
        return Skip.NOT_A_STUDENT
    address = address_for(user, channel, cfg, fallback=fallback)
    if address is None:
        return Skip.NO_ADDRESS
    if not cfg["test_mode"]:
        return address
    test_address = cfg["test_mode_email" if channel is Channel.EMAIL else "test_mode_phone"]
    if not test_address:
        return Skip.NO_TEST_ADDRESS
    return Address(test_address, Route.TEST_MODE, real=address.to)


@dataclass(frozen=True)
class Settled:
    """What an outcome makes of a delivery: its status, error, and when to try again."""

    status: DeliveryStatus
    error: str | None = None
    retry_at: datetime | None = None
    counts_as_attempt: bool = True

    @property
    def audit_action(self) -> str:
        return {
            DeliveryStatus.SENT: "delivery_sent",
            DeliveryStatus.FAILED: "delivery_failed",
        }.get(self.status, "delivery_deferred")


def settle(
    result: Result,
    error: str | None,
    *,
    attempts: int,
    max_attempts: int,
    retry_delays: list[float],
    now: datetime,
    throttle_wait: float = 0.0,
) -> Settled:
    """Turn what the channel said about one message into the delivery's new state.

    - sent: done.
    - refused for good (5xx): failed, with the server's reason.
    - refused for now (4xx): queued again after a back-off; failed after max_attempts.
    - throttled (the relay asks to slow down): queued again, not counted against the
      person: the run slows down instead (jobs.Pace).
    - interrupted (connection lost): queued again for the next run.
    """
    if result is Result.SENT:
        return Settled(DeliveryStatus.SENT)
    if result is Result.FAILED:
        return Settled(DeliveryStatus.FAILED, error or "refused")
    if result is Result.RETRY:
        if attempts >= max_attempts:
            reason = f"gave up after {attempts} attempts: {error}"
            return Settled(DeliveryStatus.FAILED, reason)
        delay = (retry_delays or [0])[min(attempts, len(retry_delays or [0])) - 1]
        retry_at = now + timedelta(seconds=delay)
        return Settled(DeliveryStatus.QUEUED, f"temporary: {error}", retry_at)
    if result is Result.THROTTLED:
        retry_at = now + timedelta(seconds=throttle_wait)
        return Settled(DeliveryStatus.QUEUED, f"slowed down: {error}", retry_at, False)
    return Settled(DeliveryStatus.QUEUED, f"interrupted: {error}", counts_as_attempt=False)
