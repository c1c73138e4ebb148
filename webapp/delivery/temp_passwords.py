"""Temporary passwords: system-generated, must be changed at first sign-in, and expire.

Young students get two short kind words and a number ("tiger-moon-42", about 23 bits, from
webapp/data/kind-words.txt); everyone else gets random characters from the look-alike-free
alphabet in groups of four ("k7mq-x3rt-9pwa", 12 or more characters, about 59 bits), at least
as long as their role's minimum. Only `secrets` draws them. Hashing is the cost, and
argon2-cffi releases the GIL, so a thread pool hashes on every core.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from sqlalchemy import update

from webapp.extensions import db
from webapp.models import Role, SetPasswordToken, User, utcnow
from webapp.services import audit, passwords, scope, settings
from webapp.services.audit import Actor
from webapp.services.errors import PolicyError

_RANDOM_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


@dataclass(frozen=True)
class IssuedPassword:
    """A freshly issued temporary password; the only place the plain text lives."""

    user_id: int
    username: str
    password: str
    expires_at: datetime


@cache
def kind_words() -> tuple[str, ...]:
    """The curated word list for young students."""
    text = resources.files("webapp.data").joinpath("kind-words.txt").read_text("utf-8")
    words = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    return tuple(words)


def young_password() -> str:
    words = kind_words()
    return f"{secrets.choice(words)}-{secrets.choice(words)}-{10 + secrets.randbelow(90)}"


def random_password(length: int = 12) -> str:
    length = max(12, -(-length // 4) * 4)
    chars = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(length))
    return "-".join(chars[i : i + 4] for i in range(0, length, 4))


def is_young(user: User, young_grades: Sequence[str]) -> bool:
    return user.role == Role.STUDENT and (user.grade or "").upper() in young_grades


def generate_for(user: User, young_grades: Sequence[str]) -> str:
    """Draw a temporary password that also meets the user's chosen-password policy."""
    for _ in range(20):
        if is_young(user, young_grades):
            candidate = young_password()
        else:
            # Random characters only, so the grouping dashes do not count towards the minimum.
            candidate = random_password(passwords.minimum_length(user))
        try:
            passwords.check_policy(candidate, user)
        except PolicyError:
            continue
        return candidate
    raise RuntimeError("could not draw a temporary password that meets the policy")


def issue_temporary_passwords(
    users: Sequence[User],
    actor: Actor,
    *,
    batch_id: int | None = None,
    now: datetime | None = None,
    check_scope: bool = True,
) -> list[IssuedPassword]:
    """Give each user a new temporary password, hashing on every core; the caller commits.

    Rotates each user's epoch (older links, passwords and sessions die) and voids their
    outstanding links. Bulk calls belong in a job, never in a request.
    """
    if isinstance(actor, User) and check_scope:
        scope.require_users(actor, [user.id for user in users])
    now = now or utcnow()
    plans: list[tuple[User, str, datetime]] = []
    cache: dict = {}
    for user in users:
        cfg = settings.for_user(user, cache)
        grades = [g.upper() for g in cfg["young_student_grades"]]
        expires = now + timedelta(days=cfg["temp_password_days"])
        plans.append((user, generate_for(user, grades), expires))
    hasher = passwords.hasher()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(lambda plan: hasher.hash(passwords.normalise(plan[1])), plans))
    if users:
        db.session.execute(
            update(SetPasswordToken)
            .where(
                SetPasswordToken.user_id.in_([user.id for user in users]),
                SetPasswordToken.used_at.is_(None),
                SetPasswordToken.voided_at.is_(None),
            )
            .values(voided_at=now)
        )
    issued: list[IssuedPassword] = []
    for (user, password, expires), password_hash in zip(plans, hashes, strict=True):
        user.password_hash = password_hash
        user.must_change_password = True
        user.temp_password_expires_at = expires
        user.failed_login_count = 0
        user.login_delay_until = None
        user.rotate_epoch()
        if user.invited_at is None:
            user.invited_at = now
        audit.record(
            actor,
            "credential_issued",
            user,
            kind="temporary_password",
            batch_id=batch_id,
            expires_at=expires.isoformat(),
        )
        issued.append(IssuedPassword(user.id, user.username, password, expires))
    db.session.flush()
    return issued
