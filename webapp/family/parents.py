"""Parents: registering with a child's parent code, adding children, the dashboard, contact.

A parent code links a parent to one student, within the code's uses and expiry, and does
nothing else: it never signs anyone in. Every way a code can fail (mistyped, unknown,
expired, used up, voided, a raced last use) gives one answer, so a guesser learns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from webapp.delivery import codes
from webapp.extensions import db
from webapp.models import (
    AccountState,
    Class,
    Enrollment,
    GuardianLink,
    ParentCode,
    Role,
    School,
    StudentPin,
    User,
    utcnow,
)
from webapp.services import audit, auth, passwords, scope
from webapp.services.audit import Actor
from webapp.services.errors import DomainError, PolicyError

REFUSED_CODE = (
    "That parent code does not work. Check each character and try again, or ask your "
    "child's school for a new code."
)


# A registered parent's username is their email address, within the username column.
USERNAME_MAX = 150


class CodeRefused(DomainError):
    """The typed code links nobody; one message whatever the reason."""

    def __init__(self) -> None:
        super().__init__(REFUSED_CODE)


@dataclass(frozen=True)
class NewParent:
    given_name: str
    family_name: str
    email: str
    password: str


def record_refused_code(actor: Actor) -> None:
    """Audit a code that linked nobody; the caller commits (after rolling back the rest)."""
    audit.record(actor, "parent_code_refused")


def _redeemable(typed: str, now: datetime) -> tuple[ParentCode, User]:
    row = codes.find_parent_code(typed, now=now)
    student = db.session.get(User, row.student_id) if row is not None else None
    if row is None or student is None or student.deactivated_at is not None:
        raise CodeRefused()
    return row, student


def clean_email(typed: str) -> str:
    """Return an email address in the form it is stored and matched in, or refuse it."""
    try:
        address = validate_email(typed.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PolicyError([f"That email address is not valid: {exc}"]) from exc
    # Sign-in and forgot-password match addresses lower-cased.
    return address.lower()


def clean_phone(typed: str) -> str | None:
    """Return a phone number in E.164 (+15125550123), None when blank, or refuse it."""
    if not typed.strip():
        return None
    region = current_app.config["ROSTER_DEFAULT_REGION"]
    try:
        number = phonenumbers.parse(typed, region)
    except phonenumbers.NumberParseException as exc:
        raise PolicyError(["Give the number with its country code, like +15125550123."]) from exc
    if not phonenumbers.is_valid_number(number):
        raise PolicyError(["That phone number is not valid."])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _address_taken(address: str, *, besides: User | None = None) -> bool:
    query = select(User.id).where(or_(func.lower(User.email) == address, User.username == address))
    if besides is not None:
        query = query.where(User.id != besides.id)
    return db.session.scalar(query.limit(1)) is not None


def register_parent(typed_code: str, person: NewParent, *, now: datetime | None = None) -> User:
    """Create a parent account linked to the child whose code was typed; the caller commits.

    Raises CodeRefused (the view rolls back and records it) or PolicyError. The code is
    used last, so a refused password or address does not spend one of its uses.
    """
    now = now or utcnow()
    row, student = _redeemable(typed_code, now)
    address = clean_email(person.email)
    if len(address) > USERNAME_MAX:
        raise PolicyError([f"Use an email address of at most {USERNAME_MAX} characters."])
    if _address_taken(address):
        raise PolicyError(
            ["An account with this email address already exists. Sign in, then use Add a child."]
        )
    parent = User(
        role=Role.PARENT,
        username=address,
        given_name=person.given_name.strip(),
        family_name=person.family_name.strip(),
        email=address,
        invited_at=now,
    )
    parent.schools = list(student.schools)
    passwords.check_policy(person.password, parent)
    db.session.add(parent)
    db.session.flush()
    auth.set_password(parent, person.password, actor=parent)
    audit.record(parent, "parent_registered", parent, student_id=student.id, code_id=row.id)
    _link(parent, student, row, now)
    return parent


def add_child(parent: User, typed_code: str, *, now: datetime | None = None) -> User:
    """Link a signed-in parent to another child by that child's code; the caller commits."""
    now = now or utcnow()
    row, student = _redeemable(typed_code, now)
    already = db.session.scalar(
        select(GuardianLink.id).where(
            GuardianLink.parent_id == parent.id, GuardianLink.student_id == student.id
        )
    )
    if already is not None:
        raise PolicyError([f"{student.display_name} is already linked to your account."])
    _link(parent, student, row, now)
    return student


def _link(parent: User, student: User, row: ParentCode, now: datetime) -> None:
    # A conditional UPDATE: of two parents racing for a code's last use, one wins.
    if not codes.use_parent_code(row, now=now):
        raise CodeRefused()
    db.session.add(GuardianLink(parent_id=parent.id, student_id=student.id, origin="parent_code"))
    # The child's school admins can then see (and help) the parent.
    parent.schools = [*parent.schools, *(s for s in student.schools if s not in parent.schools)]
    db.session.flush()
    audit.record(
        parent, "parent_linked", student, parent_id=parent.id, code_id=row.id, origin="parent_code"
    )
    has_pin = db.session.scalar(select(StudentPin.id).where(StudentPin.student_id == student.id))
    if has_pin is None:
        codes.issue_student_pin(student, actor=parent)


# --- the dashboard -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClassCard:
    title: str
    school: str
    teachers: list[str]


@dataclass(frozen=True)
class ChildCard:
    child: User
    schools: list[str]
    classes: list[ClassCard]
    state: AccountState
    pin: str | None  # None for a deactivated child


def children_overview(parent: User) -> list[ChildCard]:
    """Each linked child with schools, classes and teachers, state and PIN; caller commits.

    Showing a PIN is audited; a child without one gets one, so the first view of the
    dashboard has a PIN to show (issuing only when none exists, it is safe to repeat).
    """
    cards = []
    for child in scope.linked_children(parent):
        pin = None
        if child.deactivated_at is None:
            pin = _pin_for(child, parent)
        cards.append(
            ChildCard(
                child=child,
                schools=[school.name for school in child.schools],
                classes=_classes(child),
                state=child.state,
                pin=codes.display(pin) if pin else None,
            )
        )
    return cards


def _pin_for(child: User, parent: User) -> str | None:
    pin = codes.show_student_pin(child.id, actor=parent)
    if pin is not None:
        return pin
    try:
        return codes.issue_student_pin(child, actor=parent)
    except IntegrityError:
        # A second tab made it first: show theirs.
        db.session.rollback()
        return codes.show_student_pin(child.id, actor=parent)


def _classes(child: User) -> list[ClassCard]:
    rows = db.session.execute(
        select(Class.id, Class.title, School.name)
        .join(Enrollment, Enrollment.class_id == Class.id)
        .join(School, School.id == Class.school_id)
        .where(Enrollment.user_id == child.id, Enrollment.role == "student")
        .order_by(School.name, Class.title)
    ).all()
    teachers: dict[int, list[str]] = {}
    if rows:
        for class_id, given, family in db.session.execute(
            select(Enrollment.class_id, User.given_name, User.family_name)
            .join(User, User.id == Enrollment.user_id)
            .where(Enrollment.class_id.in_([r.id for r in rows]), Enrollment.role == "teacher")
            .order_by(User.family_name, User.given_name)
        ):
            teachers.setdefault(class_id, []).append(f"{given} {family}".strip())
    return [
        ClassCard(title, school, teachers.get(class_id, [])) for class_id, title, school in rows
    ]


# --- own contact details -----------------------------------------------------------------


def update_contact(user: User, *, email: str, phone: str, current_password: str) -> list[str]:
    """Change one's own email and phone after proving the password; the caller commits.

    Returns the fields that changed. A change rotates the credential epoch: links already
    sent to the old address die, and so do other sessions.
    """
    if not passwords.verify_password(user.password_hash, current_password):
        audit.record(user, "contact_change_failed", user, reason="wrong_current_password")
        raise PolicyError(["Your current password is not right."])
    new_email = clean_email(email) if email.strip() else None
    new_phone = clean_phone(phone)
    if new_email and _address_taken(new_email, besides=user):
        raise PolicyError(["Another account already uses this email address."])
    changed = [
        name
        for name, old, new in (("email", user.email, new_email), ("phone", user.phone, new_phone))
        if (old or None) != new
    ]
    if not changed:
        return []
    user.email, user.phone = new_email, new_phone
    user.rotate_epoch()
    audit.record(user, "contact_changed", user, fields=changed)
    db.session.flush()
    return changed
