"""QR sign-in badges (as Clever Badges), for young students in the grades a school allows.

A badge is a URL, BASE_URL/badge/<token>, printed as a QR code on the student's slip. The
token is 32 random bytes; only its SHA-256 is stored. A student has at most one live badge:
printing a new one revokes the old. Badges are revoked per student, per class, or for
everyone (at year end), and stop working when the student is deactivated or their grade
is no longer allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

import segno
from flask import current_app
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import BadgeToken, Role, User, utcnow
from webapp.printing.render import PNG_DATA
from webapp.services import audit, scope, settings
from webapp.services.audit import Actor
from webapp.services.errors import PolicyError


def digest(token: str) -> str:
    """What is stored of a badge token (and all a session keeps of it): its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def allowed(student: User, cache: dict | None = None) -> bool:
    """True when the student's school lets their grade have a badge."""
    grades = settings.for_user(student, cache if cache is not None else {})["badge_grades"]
    return student.role == Role.STUDENT and bool(student.grade) and student.grade in grades


def issue(students: Sequence[User], actor: Actor) -> dict[int, str]:
    """Give each student a new badge, revoking their old one; return id -> badge URL.

    Refuses the whole request if any student's grade may not have a badge. Audited; the
    caller commits.
    """
    cache: dict = {}
    refused = [s.username for s in students if not allowed(s, cache)]
    if refused:
        raise PolicyError(
            [f"Badges are not turned on for the grade of: {', '.join(refused[:10])}."]
        )
    revoke([s.id for s in students], actor, reason="reprinted")
    base = current_app.config["BASE_URL"].rstrip("/")
    issued_by = actor.id if isinstance(actor, User) else None
    urls = {}
    for student in students:
        token = secrets.token_urlsafe(32)
        db.session.add(
            BadgeToken(student_id=student.id, token_hash=digest(token), issued_by_id=issued_by)
        )
        urls[student.id] = f"{base}/badge/{token}"
    audit.record_events(actor, (audit.Event("badge_issued", "user", s.id, {}) for s in students))
    return urls


def revoke(student_ids: Sequence[int], actor: Actor, *, reason: str = "revoked") -> int:
    """Revoke these students' live badges; return how many. The caller commits."""
    if not student_ids:
        return 0
    result = db.session.execute(
        update(BadgeToken)
        .where(BadgeToken.student_id.in_(student_ids), BadgeToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(BadgeToken.student_id)
    )
    revoked = [row.student_id for row in result]
    audit.record_events(
        actor,
        (audit.Event("badge_revoked", "user", sid, {"reason": reason}) for sid in revoked),
    )
    return len(revoked)


def revoke_for(actor: User, *, class_id: int | None = None, everyone: bool = False) -> int:
    """Revoke the badges of a class, or of every student the admin may see (year end)."""
    if class_id is not None:
        klass = scope.require_class(actor, class_id)
        ids = [s.id for s in scope.class_students(klass)]
    elif everyone:
        ids = list(
            db.session.scalars(
                scope.visible_users(actor)
                .with_only_columns(User.id)
                .where(User.role == Role.STUDENT)
            )
        )
    else:
        raise PolicyError(["Choose a class, or everyone."])
    return revoke(ids, actor)


def find(token_hash: str) -> User | None:
    """The student a live badge (by its token's digest) signs in, or None (unknown, revoked,
    deactivated, or a grade no longer allowed: all look the same)."""
    if not token_hash or len(token_hash) != 64:
        return None
    badge = db.session.scalar(
        select(BadgeToken).where(
            BadgeToken.token_hash == token_hash, BadgeToken.revoked_at.is_(None)
        )
    )
    if badge is None or not hmac.compare_digest(badge.token_hash, token_hash):
        return None
    student = db.session.get(User, badge.student_id)
    if student is None or student.deactivated_at is not None or not allowed(student):
        return None
    return student


def record_use(student: User) -> None:
    """Note a sign-in by badge: audited, and it activates an account never used before."""
    now = utcnow()
    db.session.execute(
        update(BadgeToken)
        .where(BadgeToken.student_id == student.id, BadgeToken.revoked_at.is_(None))
        .values(last_used_at=now)
    )
    if student.activated_at is None:
        student.activated_at = now
    student.last_login_at = now
    audit.record(student, "signed_in_with_badge", student)


def qr_png(url: str) -> str:
    """The badge URL as a small QR code PNG, inline in the document (data: URI)."""
    data_uri = segno.make(url, error="m").png_data_uri(scale=3, border=2)
    if not data_uri.startswith(PNG_DATA):
        raise ValueError("segno made something other than a PNG")
    return data_uri
