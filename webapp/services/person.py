"""One person's record from the console: contact details, history, and adding someone by hand.

Contact details are checked as an import checks a row (webapp/roster/normalise.py); a change
rotates the credential epoch (DESIGN.md), so what was sent to the old address stops working.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEvent, Class, Enrollment, GuardianLink, Role, School, User
from webapp.roster.normalise import (
    clean_text,
    make_username,
    normalise_email,
    normalise_grade,
    phone_parts,
)
from webapp.services import audit, scope
from webapp.services.people import ROLES


@dataclass(frozen=True)
class ContactChange:
    changed: bool
    problems: dict[str, str]  # field -> what is wrong with it


def update_contact(actor: User, user_id: int, email: str, phone: str) -> ContactChange:
    """Set a person's email and phone from the console, checked as an import checks them.

    A change rotates the credential epoch (DESIGN.md): links and temporary passwords sent
    to the old address stop working. Audited with old -> new; the caller commits.
    """
    user = scope.require_user(actor, user_id)
    new_email, new_phone, problems = _check_contact(email, phone)
    if problems:
        return ContactChange(False, problems)
    changes = {
        key: {"old": getattr(user, key), "new": value}
        for key, value in (("email", new_email), ("phone", new_phone))
        if getattr(user, key) != value
    }
    if not changes:
        return ContactChange(False, {})
    for key, change in changes.items():
        setattr(user, key, change["new"])
    user.rotate_epoch()
    audit.record(actor, "contact_changed", user, **{f"{k}_change": v for k, v in changes.items()})
    return ContactChange(True, {})


def _check_contact(email: str, phone: str) -> tuple[str | None, str | None, dict[str, str]]:
    """An email and a mobile number as typed, checked as an import checks them."""
    problems: dict[str, str] = {}
    clean_email, reason = normalise_email(email)
    if email.strip() and clean_email is None:
        problems["email"] = f"That is not an email address: {reason}"
    region = current_app.config["ROSTER_DEFAULT_REGION"]
    clean_phone, extension = phone_parts(phone, region) if phone.strip() else (None, None)
    if phone.strip() and (clean_phone is None or extension):
        problems["phone"] = "Give a mobile number, e.g. +1 603 555 0123, without an extension."
    return clean_email, clean_phone, problems


def timeline(user: User, limit: int = 50) -> list[AuditEvent]:
    """The person's account history, newest first, from the audit trail."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_type == "user", AuditEvent.target_id == user.id)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


def classes_of(user: User) -> list[Class]:
    """The classes a person teaches or is enrolled in, by title."""
    return list(
        db.session.scalars(
            select(Class)
            .join(Enrollment, Enrollment.class_id == Class.id)
            .where(Enrollment.user_id == user.id)
            .order_by(Class.title)
        )
    )


@dataclass(frozen=True)
class NewPerson:
    role: str
    given_name: str
    family_name: str
    school_id: int | None
    email: str = ""
    phone: str = ""
    grade: str = ""
    class_id: int | None = None
    child_username: str = ""  # a parent's child, by username


def add_person(actor: User, new: NewPerson) -> tuple[User | None, dict[str, str]]:
    """Add someone the SIS does not have yet, checked as an import checks a row.

    Returns (the user, {}) or (None, {field: what is wrong}); the caller commits. The
    person is marked as made by hand (source "local"); the next import matches them by
    email (same role, same school) instead of making a second account, and says so.
    """
    problems: dict[str, str] = {}
    role = Role(new.role) if new.role in {r.value for r in ROLES} else None
    if role not in ROLES:
        problems["role"] = "Choose student, parent, teacher or staff."
    given, _ = clean_text(new.given_name)
    family, _ = clean_text(new.family_name)
    if not given:
        problems["given_name"] = "Give a first name."
    if not family:
        problems["family_name"] = "Give a last name."
    if new.school_id not in scope.visible_school_ids(actor):
        problems["school_id"] = "Choose one of your schools."
    email, phone, contact_problems = _check_contact(new.email, new.phone)
    problems.update(contact_problems)
    grade, _ = normalise_grade(new.grade) if new.grade.strip() else ("", False)
    klass, child = _place(actor, new, role, problems)
    if email and role and not problems:
        twin = db.session.scalar(
            select(User.username).where(User.email == email, User.role == role)
        )
        if twin:
            problems["email"] = f"A {role} with that email already exists: {twin}."
    if problems:
        return None, problems
    user = User(
        username=_free_username(given, family),
        given_name=given,
        family_name=family,
        role=role,
        email=email,
        phone=phone,
        grade=grade or None,
        source="local",
    )
    user.schools = [db.session.get(School, new.school_id)]
    db.session.add(user)
    db.session.flush()
    if klass is not None:
        db.session.add(Enrollment(class_id=klass.id, user_id=user.id, role=role.value))
    if child is not None:
        db.session.add(GuardianLink(parent_id=user.id, student_id=child.id, origin="admin"))
    audit.record(actor, "account_created", user, role=role.value, by="console")
    return user, {}


def _place(
    actor: User, new: NewPerson, role: Role | None, problems: dict[str, str]
) -> tuple[Class | None, User | None]:
    """The class a new student or teacher joins, and the child a new parent is linked to;
    what is wrong goes into `problems` (a class is checked only against a valid school)."""
    klass = child = None
    if new.class_id is not None and "school_id" not in problems:
        klass = db.session.get(Class, new.class_id)
        fits = klass is not None and klass.school_id == new.school_id
        if not fits or role not in (Role.STUDENT, Role.TEACHER):
            problems["class_id"] = "Choose a class of that school (students and teachers only)."
    if new.child_username.strip():
        child = db.session.scalar(
            scope.visible_users(actor).where(
                User.username == new.child_username.strip().lower(), User.role == Role.STUDENT
            )
        )
        if role is not Role.PARENT or child is None:
            problems["child_username"] = "Give the username of a student at your schools."
    return klass, child


def _free_username(given: str, family: str) -> str:
    template = "{first}.{last}"
    base = make_username(template, given, family, set())
    taken = set(db.session.scalars(select(User.username).where(User.username.like(f"{base}%"))))
    return make_username(template, given, family, taken)
