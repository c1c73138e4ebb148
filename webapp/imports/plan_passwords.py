"""Passwords from a file: checked against the policy, and never set where one could take over
an account (someone already using theirs, or tied to a school outside the admin's).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, union

from webapp.extensions import db
from webapp.imports.plan import CHUNK, ImportPlan, add_error, chunks
from webapp.models import (
    Class,
    Enrollment,
    GuardianLink,
    Role,
    School,
    User,
    user_schools,
)
from webapp.roster.records import PersonRecord, Problem
from webapp.services import passwords, scope
from webapp.services.errors import PolicyError


@dataclass(slots=True)
class FileReset:
    """An existing person with a password in the file, before it is known whether to use it."""

    record: PersonRecord
    role: str
    grade: str | None
    username: str
    user_id: int


def context_school_names(plan: ImportPlan) -> tuple[str, ...]:
    names = [record.name for record in plan.roster.schools]
    ids = set(plan.school_ids.values())
    if ids:
        names += db.session.scalars(select(School.name).where(School.id.in_(ids)))
    return tuple(sorted(set(names)))


def plan_password(
    plan: ImportPlan,
    record: PersonRecord,
    role: str,
    grade: str | None,
    username: str,
    user_id: int | None,
) -> None:
    """Check a file password against the policy; never hashes (the preview runs this)."""
    password = record.password
    if not password or not password.strip():
        if user_id is None:
            plan.generate_passwords += 1
        return
    # A transient, never-added User: check_policy needs the role, grade and names.
    person = User(
        role=role,
        grade=grade,
        username=username,
        given_name=record.given_name,
        family_name=record.family_name,
    )
    try:
        passwords.check_policy(password, person, extra_words=plan.password_context)
    except PolicyError as exc:
        # The rules broken, never the password itself.
        add_error(
            plan,
            record,
            f"The password does not meet the policy for a {role}: {' '.join(exc.problems)}",
            plan.options.password_column,
        )
        return
    if user_id is None:
        plan.new_passwords[record.sourced_id] = password
    else:
        plan.reset_passwords[user_id] = password


def plan_file_resets(plan: ImportPlan, resets: list[FileReset], actor: User) -> None:
    """Use a file's password on an existing person only where no account can be taken over.

    The admin holds the file's passwords, so setting one lets them sign in as that person:
    it is left alone, with a warning on its cell, for anyone already using their account and
    for anyone tied to a school outside the admin's scope. Such people are still updated.
    """
    if not resets:
        return
    user_ids = [reset.user_id for reset in resets]
    active = using_their_account(user_ids)
    outside = _tied_outside_scope(user_ids, actor)
    for reset in resets:
        reasons: list[str] = []
        if reset.user_id in active:
            reasons.append("they already use their account, and a file never replaces its password")
        if reset.user_id in outside:
            reasons.append("they belong to, or are linked to, a school outside yours")
        if not reasons:
            plan_password(
                plan, reset.record, reset.role, reset.grade, reset.username, reset.user_id
            )
            continue
        plan.credentials_left_alone.append(reset.user_id)
        plan.problems.append(
            Problem(
                "warning",
                reset.record.file,
                reset.record.line,
                plan.options.password_column,
                f"The password of {reset.username} was left as it is: {' and '.join(reasons)}. "
                "Send them a reset link instead.",
            )
        )


def using_their_account(user_ids: list[int]) -> set[int]:
    """Return the ids of the people who have started using their account.

    Started: they hold a password of their own. Choosing one activates the account; a
    temporary password (from an admin or a file) must be changed first and does not count.
    """
    own_password = User.password_hash.is_not(None) & User.must_change_password.is_(False)
    found: set[int] = set()
    for chunk in chunks(sorted(set(user_ids))):
        found.update(
            db.session.scalars(
                select(User.id).where(
                    User.id.in_(chunk), User.activated_at.is_not(None) | own_password
                )
            )
        )
    return found


def _tied_outside_scope(user_ids: list[int], actor: User) -> set[int]:
    """Return the ids of the people tied to a school outside the actor's scope.

    Tied: a member of the school, enrolled in one of its classes, or a parent of a child who
    is either (signing in as the parent shows the child).
    """
    if actor.role == Role.ADMIN and actor.district_wide:
        return set()
    allowed = scope.visible_school_ids(actor)
    members, children = user_schools.c.user_id, GuardianLink.student_id
    found: set[int] = set()
    # Four IN lists per query: smaller chunks stay under SQLite's bound-parameter limit.
    for chunk in chunks(sorted(set(user_ids)), CHUNK // 5):
        ties = union(
            select(members).where(members.in_(chunk), user_schools.c.school_id.not_in(allowed)),
            select(Enrollment.user_id)
            .join(Class, Class.id == Enrollment.class_id)
            .where(Enrollment.user_id.in_(chunk), Class.school_id.not_in(allowed)),
            select(GuardianLink.parent_id)
            .join(user_schools, members == children)
            .where(GuardianLink.parent_id.in_(chunk), user_schools.c.school_id.not_in(allowed)),
            select(GuardianLink.parent_id)
            .join(Enrollment, Enrollment.user_id == children)
            .join(Class, Class.id == Enrollment.class_id)
            .where(GuardianLink.parent_id.in_(chunk), Class.school_id.not_in(allowed)),
        )
        found.update(db.session.scalars(ties))
    return found


def plan_ignored_passwords(plan: ImportPlan) -> None:
    """Warn once when the file carries passwords an import that keeps them ignores."""
    options = plan.options
    if options.passwords != "keep":
        return
    first = next((p for p in plan.roster.people if p.password), None)
    if first is None and not options.password_mapped:
        return
    plan.problems.append(
        Problem(
            "warning",
            first.file if first else "upload",
            None,
            options.password_column,
            "The password column was ignored: this import keeps everyone's password as it "
            "is. Choose to set passwords from the file to use it.",
        )
    )
