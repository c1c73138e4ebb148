"""Signing in, and changing or setting one's own password."""

from __future__ import annotations

import enum
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.jobs import enqueue, job
from webapp.models import SetPasswordToken, User, utcnow
from webapp.services import audit, passwords
from webapp.services.errors import PolicyError
from webapp.services.mail import send_mail

log = logging.getLogger(__name__)


class SignInOutcome(enum.StrEnum):
    OK = "ok"
    MUST_CHANGE = "must_change"
    FAILED = "failed"
    TEMP_EXPIRED = "temp_expired"


@dataclass(frozen=True, slots=True)
class SignInResult:
    outcome: SignInOutcome
    user: User | None = None


def find_user(identifier: str) -> User | None:
    """Find a user by username, or by an email that exactly one user has."""
    identifier = identifier.strip().lower()
    if not identifier:
        return None
    user = db.session.scalar(select(User).where(User.username == identifier))
    if user is None and "@" in identifier:
        matches = db.session.scalars(select(User).where(User.email == identifier).limit(2)).all()
        user = matches[0] if len(matches) == 1 else None
    return user


def sign_in(identifier: str, password: str, *, now: datetime | None = None) -> SignInResult:
    """Check a sign-in attempt, recording it; the caller commits.

    Unknown users, wrong passwords, deactivated accounts and throttled accounts all come back
    as FAILED after the same amount of hashing, so the answer does not reveal who exists.
    """
    now = now or utcnow()
    user = find_user(identifier)
    if user is None:
        passwords.dummy_verify()
        audit.record(audit.ANONYMOUS, "login_failed", reason="unknown_user")
        return SignInResult(SignInOutcome.FAILED)

    delayed = user.login_delay_until is not None and user.login_delay_until > now
    correct = passwords.verify_password(user.password_hash, password)
    if delayed:
        audit.record(audit.ANONYMOUS, "login_throttled", user)
        return SignInResult(SignInOutcome.FAILED)
    if not correct or not user.is_active:
        _record_failure(user, now, reason="deactivated" if correct else "wrong_password")
        return SignInResult(SignInOutcome.FAILED)

    if user.must_change_password and (
        user.temp_password_expires_at is not None and user.temp_password_expires_at <= now
    ):
        audit.record(user, "login_failed", user, reason="temp_password_expired")
        return SignInResult(SignInOutcome.TEMP_EXPIRED, user)

    user.failed_login_count = 0
    user.login_delay_until = None
    user.last_login_at = now
    audit.record(user, "login_succeeded", user)
    if user.must_change_password:
        return SignInResult(SignInOutcome.MUST_CHANGE, user)
    return SignInResult(SignInOutcome.OK, user)


def _record_failure(user: User, now: datetime, *, reason: str) -> None:
    cfg = current_app.config
    user.failed_login_count += 1
    audit.record(
        audit.ANONYMOUS, "login_failed", user, reason=reason, failures=user.failed_login_count
    )
    over = user.failed_login_count - cfg["LOGIN_DELAY_AFTER_FAILURES"] + 1
    if over > 0:
        seconds = min(cfg["LOGIN_DELAY_STEP_SECONDS"] * over, cfg["LOGIN_DELAY_MAX_SECONDS"])
        user.login_delay_until = now + timedelta(seconds=seconds)
        audit.record(audit.SYSTEM, "login_delayed", user, seconds=seconds)


def set_password(user: User, new_password: str, *, actor: User) -> None:
    """Give a user a password they chose, activating the account; the caller commits.

    Rotates the credential epoch, so every other session and every outstanding link dies.
    """
    passwords.check_policy(new_password, user)
    if user.must_change_password and passwords.verify_password(user.password_hash, new_password):
        raise PolicyError(["Choose a new password, not the temporary one."])
    now = utcnow()
    user.password_hash = passwords.hash_password(new_password)
    user.must_change_password = False
    user.temp_password_expires_at = None
    user.failed_login_count = 0
    user.login_delay_until = None
    user.rotate_epoch()
    _void_tokens(user, now)
    activated = user.activated_at is None
    if activated:
        user.activated_at = now
    audit.record(actor, "password_changed", user, activated=activated)
    db.session.flush()
    if not activated and user.email:
        # A change they did not make shows at once; the first password needs no notice.
        enqueue(notify_password_changed, user.id)


@job
def notify_password_changed(user_id: int) -> int:
    """Tell someone by email that their password was changed; no link, no secret."""
    user = db.session.get(User, user_id)
    if user is None or not user.email:
        return 0
    body = (
        f"Hello {user.given_name},\n\n"
        f"The password of your Keyslip account ({user.username}) was changed on "
        f"{utcnow():%d %B %Y at %H:%M} UTC.\n\n"
        "If you changed it, there is nothing to do. If you did not, contact your school "
        "office at once: they can stop anyone else using your account.\n"
    )
    try:
        return send_mail([user.email], "Your Keyslip password was changed", body)
    except (OSError, smtplib.SMTPException):
        # The change itself stands; only the notice is lost, and the audit log has it.
        log.warning("password-changed notice for user %s not sent", user_id)
        return 0


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change one's own password, proving the current one first; the caller commits."""
    if not passwords.verify_password(user.password_hash, current_password):
        audit.record(user, "password_change_failed", user, reason="wrong_current_password")
        raise PolicyError(["Your current password is not right."])
    if passwords.normalise(current_password) == passwords.normalise(new_password):
        raise PolicyError(["Choose a password different from your current one."])
    set_password(user, new_password, actor=user)


def _void_tokens(user: User, now: datetime) -> None:
    tokens = db.session.scalars(
        select(SetPasswordToken).where(
            SetPasswordToken.user_id == user.id,
            SetPasswordToken.used_at.is_(None),
            SetPasswordToken.voided_at.is_(None),
        )
    )
    for token in tokens:
        token.voided_at = now
