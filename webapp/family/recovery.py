"""Recovering a forgotten password: an emailed reset link, or a student's PIN.

Forgot password answers the same way for every account and for none: whatever happens
(a link queued, no address on file, the hourly cap reached, nobody by that name) the page
says the same thing, and the work is a few database writes in every case. The mail goes
through the job queue after the commit, so neither the mail server's speed nor its
failure reaches the answer. The one exception is single sign-on: a school that signs a
role in with its own accounts wants its people sent there (as Satchel One does).

PIN recovery lets a student with a parent beside them set a new password with their
username and the PIN the parent sees on the dashboard; the PIN then changes. Wrong PINs
are counted per account from the audit trail: PIN_FAILURES_PER_HOUR of them in an hour
lock PIN recovery for that account until the hour has passed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from webapp.delivery import batches, codes, policy
from webapp.extensions import db
from webapp.models import AuditEvent, Role, User, utcnow
from webapp.services import audit, auth, settings
from webapp.services.errors import DomainError, NotAllowed

HOUR = timedelta(hours=1)


class ResetAnswer(enum.StrEnum):
    """What the forgot-password page may say."""

    CHECK_EMAIL = "check_email"  # the one answer for every account, and for none
    USE_SSO = "use_sso"  # the school signs this role in with its own accounts


class ResetOutcome(enum.StrEnum):
    """What really happened, for the audit trail only: never shown."""

    QUEUED = "queued"
    UNKNOWN = "unknown"
    NO_EMAIL = "no_email"
    CAPPED = "capped"
    DEACTIVATED = "deactivated"
    SSO = "sso"


@dataclass(frozen=True)
class ResetResult:
    answer: ResetAnswer
    notice: str | None = None


def _count_since(user: User, action: str, since: datetime) -> int:
    return db.session.scalar(
        select(func.count()).where(
            AuditEvent.target_id == user.id,
            AuditEvent.target_type == "user",
            AuditEvent.action == action,
            AuditEvent.created_at > since,
        )
    )


def request_password_reset(identifier: str, *, now: datetime | None = None) -> ResetResult:
    """Queue a reset link for the account named by username or email; the caller commits."""
    now = now or utcnow()
    user = auth.find_user(identifier)
    if user is None:
        audit.record(audit.ANONYMOUS, "password_reset_not_sent", outcome=ResetOutcome.UNKNOWN)
        return ResetResult(ResetAnswer.CHECK_EMAIL)
    notice = settings.sso_notice(user) if user.is_active else None
    if notice:
        audit.record(audit.ANONYMOUS, "password_reset_not_sent", user, outcome=ResetOutcome.SSO)
        return ResetResult(ResetAnswer.USE_SSO, notice)
    outcome = _queue_link(user, now)
    if outcome is ResetOutcome.QUEUED:
        audit.record(audit.ANONYMOUS, "password_reset_queued", user)
    else:
        audit.record(audit.ANONYMOUS, "password_reset_not_sent", user, outcome=outcome)
    return ResetResult(ResetAnswer.CHECK_EMAIL)


def _queue_link(user: User, now: datetime) -> ResetOutcome:
    if user.deactivated_at is not None:
        return ResetOutcome.DEACTIVATED
    if policy.valid_email(user.email) is None:
        return ResetOutcome.NO_EMAIL
    cap = current_app.config["RESET_MESSAGES_PER_HOUR"]
    if _count_since(user, "password_reset_queued", now - HOUR) >= cap:
        return ResetOutcome.CAPPED
    try:
        batches.request_reset_link(user)
    except NotAllowed:
        # Someone outside every scope (an admin of no school) is not sent anything either.
        return ResetOutcome.DEACTIVATED
    return ResetOutcome.QUEUED


# --- PIN recovery ------------------------------------------------------------------------

PIN_REFUSED = "That username and PIN do not match. Check both and try again."
PIN_LOCKED = (
    "PIN recovery is locked for this account after too many wrong PINs. Ask your teacher "
    "or the school office for a new password, or try again in an hour."
)


class PinRefused(DomainError):
    """A wrong PIN, or a username that is not a student's: one message for both."""

    def __init__(self, user: User | None) -> None:
        super().__init__(PIN_REFUSED)
        self.user = user


class PinLocked(DomainError):
    def __init__(self) -> None:
        super().__init__(PIN_LOCKED)


class UseSso(DomainError):
    """The school signs students in with its own accounts; the message says where."""


def pin_locked(user: User, *, now: datetime | None = None) -> bool:
    since = (now or utcnow()) - HOUR
    return (
        _count_since(user, "pin_recovery_failed", since)
        >= current_app.config["PIN_FAILURES_PER_HOUR"]
    )


def _student(username: str) -> User | None:
    user = auth.find_user(username)
    if user is None or user.role != Role.STUDENT or user.deactivated_at is not None:
        return None
    return user


def recover_with_pin(username: str, typed_pin: str, new_password: str) -> User:
    """Set a student's new password with their PIN, then change the PIN; the caller commits.

    Raises PinLocked, PinRefused (the view rolls back and calls record_pin_failure),
    UseSso, or PolicyError for a password the policy refuses (the PIN was right: nothing
    is counted and nothing changes).
    """
    user = _student(username)
    if user is None:
        codes.lookup_hash("student-pin", codes.normalise(typed_pin) or "-")  # as a real check
        raise PinRefused(None)
    if pin_locked(user):
        audit.record(audit.ANONYMOUS, "pin_recovery_locked", user)
        raise PinLocked()
    if not codes.check_student_pin(user, typed_pin):
        raise PinRefused(user)
    notice = settings.sso_notice(user)
    if notice:
        raise UseSso(notice)
    auth.set_password(user, new_password, actor=user)
    codes.issue_student_pin(user, actor=user)
    audit.record(user, "pin_recovery_used", user)
    return user


def record_pin_failure(user: User | None) -> bool:
    """Audit a refused PIN; say whether the account is now locked. The caller commits."""
    audit.record(audit.ANONYMOUS, "pin_recovery_failed", user)
    return user is not None and pin_locked(user)
