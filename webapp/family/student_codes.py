"""A student's own parent code: what the account page shows, and making a new one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import ParentCode, Role, User, utcnow
from webapp.services import audit, settings
from webapp.services.errors import NotAllowed


class CodeState(enum.StrEnum):
    NONE = "none"  # never had one, or the last was voided
    LIVE = "live"
    EXPIRED = "expired"
    USED_UP = "used_up"  # as many parents as it allows have used it


@dataclass(frozen=True)
class MyParentCode:
    """The student's newest code as their page shows it; the code itself only while live."""

    state: CodeState
    formatted: str | None = None
    expires_at: datetime | None = None
    uses: int = 0
    max_uses: int = 0


def _newest(student: User) -> ParentCode | None:
    return db.session.scalar(
        select(ParentCode)
        .where(ParentCode.student_id == student.id, ParentCode.voided_at.is_(None))
        .order_by(ParentCode.id.desc())
        .limit(1)
    )


def _state(row: ParentCode | None, now: datetime) -> CodeState:
    if row is None:
        return CodeState.NONE
    if row.expires_at <= now:
        return CodeState.EXPIRED
    if row.use_count >= row.max_uses:
        return CodeState.USED_UP
    return CodeState.LIVE


def my_parent_code(student: User, *, now: datetime | None = None) -> MyParentCode:
    """Describe a student's own parent code; showing it is audited. The caller commits."""
    _require_own_student(student, student)
    row = _newest(student)
    state = _state(row, now or utcnow())
    if row is None:
        return MyParentCode(state, max_uses=settings.for_user(student)["parent_code_max_uses"])
    formatted = (
        codes.show_parent_code(student.id, actor=student) if state is CodeState.LIVE else None
    )
    return MyParentCode(state, formatted, row.expires_at, row.use_count, row.max_uses)


def renew_parent_code(student: User, *, actor: User) -> codes.IssuedCode:
    """Make the student a new parent code, voiding only their old one; the caller commits.

    Parents already linked stay linked: a code links, it never signs anyone in.
    """
    _require_own_student(student, actor)
    replaced = _newest(student)
    issued = codes.issue_parent_code(student, actor=actor)
    audit.record(
        actor,
        "parent_code_renewed",
        student,
        code_id=issued.code_id,
        replaced_code_id=replaced.id if replaced else None,
    )
    return issued


def _require_own_student(student: User, actor: User) -> None:
    if student.role != Role.STUDENT or actor.id != student.id:
        raise NotAllowed(
            "parent codes on the account page are the student's own", "user", student.id
        )
