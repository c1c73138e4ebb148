"""Parent codes and student PINs: short codes people type, stored so they can be shown again.

Each code is kept twice, never in plain text: AES-GCM ciphertext (to show it again on a letter
or an account page) and an HMAC-SHA256 keyed hash (to find it when someone types it). Both keys
are derived from SECRET_KEY with HKDF under their own labels, so neither key is the app key
and a database dump alone reveals no code. Codes are case-insensitive and drawn from an
alphabet without look-alikes (no 0/O, no 1/I/L).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import ParentCode, Role, StudentPin, User, utcnow
from webapp.services import audit, scope, settings
from webapp.services.audit import Actor
from webapp.services.errors import PolicyError

# 31 symbols: 2-9 and A-Z without I, L and O. 12 of them carry about 59.5 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PARENT_CODE_LENGTH = 12
PIN_LENGTH = 8
_SEPARATORS = re.compile(r"[\s\-]+")


def generate(length: int) -> str:
    """Return `length` random symbols from the look-alike-free alphabet."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise(typed: str) -> str | None:
    """Upper-case and drop spaces and dashes; None if anything outside the alphabet is left."""
    cleaned = _SEPARATORS.sub("", typed or "").upper()
    if not cleaned or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def display(code: str, group: int = 4) -> str:
    """Format as XXXX-XXXX-XXXX for letters and screens."""
    return "-".join(code[i : i + group] for i in range(0, len(code), group))


@cache
def _derive(secret_key: str, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(
        secret_key.encode()
    )


def _key(label: str) -> bytes:
    return _derive(current_app.config["SECRET_KEY"], f"keyslip {label} v1")


def _seal(kind: str, owner_id: int, code: str) -> bytes:
    # The owner id is bound in as associated data: a ciphertext moved to another row fails.
    nonce = secrets.token_bytes(12)
    aad = f"{kind}:{owner_id}".encode()
    return nonce + AESGCM(_key(f"{kind} encryption")).encrypt(nonce, code.encode(), aad)


def _open(kind: str, owner_id: int, sealed: bytes) -> str | None:
    try:
        aad = f"{kind}:{owner_id}".encode()
        plain = AESGCM(_key(f"{kind} encryption")).decrypt(sealed[:12], sealed[12:], aad)
    except (InvalidTag, ValueError):
        return None
    return plain.decode()


def lookup_hash(kind: str, code: str) -> str:
    """Return the keyed hash a normalised code is stored and found under."""
    return hmac.new(_key(f"{kind} lookup"), code.encode(), hashlib.sha256).hexdigest()


# --- parent codes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCode:
    """A freshly issued code; the plain code lives only in this object."""

    student_id: int
    code: str
    expires_at: datetime
    code_id: int

    @property
    def formatted(self) -> str:
        return display(self.code)


def _require_student(student: User) -> None:
    if student.role != Role.STUDENT:
        raise PolicyError(["Parent codes belong to students."])


def issue_parent_code(
    student: User, *, actor: Actor, batch_id: int | None = None, now: datetime | None = None
) -> IssuedCode:
    """Give a student a new parent code, voiding the live one; the caller commits."""
    _require_student(student)
    now = now or utcnow()
    cfg = settings.for_user(student)
    db.session.execute(
        update(ParentCode)
        .where(ParentCode.student_id == student.id, ParentCode.voided_at.is_(None))
        .values(voided_at=now)
    )
    code = generate(PARENT_CODE_LENGTH)
    row = ParentCode(
        student_id=student.id,
        code_ciphertext=_seal("parent-code", student.id, code),
        code_lookup=lookup_hash("parent-code", code),
        created_at=now,
        expires_at=now + timedelta(days=cfg["parent_code_days"]),
        max_uses=cfg["parent_code_max_uses"],
        issued_by_id=actor.id if isinstance(actor, User) else None,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        "credential_issued",
        student,
        kind="parent_code",
        code_id=row.id,
        batch_id=batch_id,
        expires_at=row.expires_at.isoformat(),
    )
    return IssuedCode(student.id, code, row.expires_at, row.id)


def live_parent_code(student: User, *, now: datetime | None = None) -> ParentCode | None:
    now = now or utcnow()
    return db.session.scalar(
        select(ParentCode)
        .where(
            ParentCode.student_id == student.id,
            ParentCode.voided_at.is_(None),
            ParentCode.expires_at > now,
            ParentCode.use_count < ParentCode.max_uses,
        )
        .order_by(ParentCode.id.desc())
        .limit(1)
    )


def show_parent_code(student_id: int, *, actor: User) -> str | None:
    """Return the student's live code formatted for display, if the actor may see it."""
    student = scope.require_user(actor, student_id)
    row = live_parent_code(student)
    if row is None:
        return None
    code = _open("parent-code", student.id, row.code_ciphertext)
    audit.record(actor, "parent_code_viewed", student, code_id=row.id)
    return display(code) if code else None


def find_parent_code(typed: str, *, now: datetime | None = None) -> ParentCode | None:
    """Find the live code someone typed (any case, dashes optional), or None.

    Wrong, expired, used-up and voided codes all answer None, so callers cannot tell them
    apart for a guesser.
    """
    code = normalise(typed)
    if code is None or len(code) != PARENT_CODE_LENGTH:
        return None
    now = now or utcnow()
    row = db.session.scalar(
        select(ParentCode).where(ParentCode.code_lookup == lookup_hash("parent-code", code))
    )
    if row is None or not hmac.compare_digest(row.code_lookup, lookup_hash("parent-code", code)):
        return None
    if row.voided_at is not None or row.expires_at <= now or row.use_count >= row.max_uses:
        return None
    return row


def use_parent_code(row: ParentCode, *, now: datetime | None = None) -> bool:
    """Count one use of a code, unless it ran out meanwhile; the caller commits.

    A conditional UPDATE, so two parents redeeming the last use at once cannot both win.
    """
    now = now or utcnow()
    result = db.session.execute(
        update(ParentCode)
        .where(
            ParentCode.id == row.id,
            ParentCode.voided_at.is_(None),
            ParentCode.expires_at > now,
            ParentCode.use_count < ParentCode.max_uses,
        )
        .values(use_count=ParentCode.use_count + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(row)
    return result.rowcount == 1


def void_parent_code(student_id: int, *, actor: User, now: datetime | None = None) -> int:
    """Void the student's live code(s); the caller commits."""
    student = scope.require_user(actor, student_id)
    result = db.session.execute(
        update(ParentCode)
        .where(ParentCode.student_id == student.id, ParentCode.voided_at.is_(None))
        .values(voided_at=now or utcnow())
    )
    if result.rowcount:
        audit.record(actor, "parent_code_voided", student, count=result.rowcount)
    return result.rowcount


# --- student PINs ---------------------------------------------------------------------------


def issue_student_pin(student: User, *, actor: Actor, now: datetime | None = None) -> str:
    """Give a student a new PIN (one row per student, replaced); the caller commits."""
    _require_student(student)
    pin = generate(PIN_LENGTH)
    row = db.session.scalar(select(StudentPin).where(StudentPin.student_id == student.id))
    if row is None:
        row = StudentPin(student_id=student.id)
        db.session.add(row)
    row.pin_ciphertext = _seal("student-pin", student.id, pin)
    row.pin_lookup = lookup_hash("student-pin", pin)
    row.created_at = now or utcnow()
    row.last_used_at = None
    db.session.flush()
    audit.record(actor, "credential_issued", student, kind="student_pin")
    return pin


def show_student_pin(student_id: int, *, actor: User) -> str | None:
    """Return the student's PIN for someone allowed to see the student."""
    student = scope.require_user(actor, student_id)
    row = db.session.scalar(select(StudentPin).where(StudentPin.student_id == student.id))
    if row is None:
        return None
    audit.record(actor, "student_pin_viewed", student)
    return _open("student-pin", student.id, row.pin_ciphertext)


def check_student_pin(student: User, typed: str) -> bool:
    """Compare a typed PIN with the student's in constant time."""
    row = db.session.scalar(select(StudentPin).where(StudentPin.student_id == student.id))
    pin = normalise(typed)
    candidate = lookup_hash("student-pin", pin if pin else "-")
    stored = row.pin_lookup if row is not None else lookup_hash("student-pin", "--")
    return row is not None and pin is not None and hmac.compare_digest(stored, candidate)


@dataclass(frozen=True)
class LiveCode:
    formatted: str
    expires_at: datetime
    uses_left: int


def live_parent_codes(
    student_ids: list[int], *, now: datetime | None = None
) -> dict[int, LiveCode]:
    """The live parent codes of these students, opened (mail merge, letters); caller audits."""
    now = now or utcnow()
    rows = db.session.scalars(
        select(ParentCode)
        .where(
            ParentCode.student_id.in_(student_ids),
            ParentCode.voided_at.is_(None),
            ParentCode.expires_at > now,
            ParentCode.use_count < ParentCode.max_uses,
        )
        .order_by(ParentCode.id)
    )
    found = {}
    for row in rows:  # the newest live code of each student wins
        code = _open("parent-code", row.student_id, row.code_ciphertext)
        if code:
            found[row.student_id] = LiveCode(
                display(code), row.expires_at, row.max_uses - row.use_count
            )
    return found
